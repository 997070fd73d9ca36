"""A pod that names a place outside its volumes is refused by the real api-server with a
422 naming the field, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.apiserver import ApiServer


@pytest.mark.parametrize(("volume", "mount", "field"), [
    ({"emptyDir": {}}, {"subPath": "../../etc"}, "spec.containers[0].volumeMounts[0].subPath"),
    ({"configMap": {"name": "c", "items": [{"key": "k", "path": "/etc/passwd"}]}}, {},
     "spec.volumes[0].configMap.items[0].path"),
    ({"secret": {"secretName": "s", "defaultMode": 0o7777}}, {},
     "spec.volumes[0].secret.defaultMode"),
])
def test_escaping_pods_are_422(apiserver: ApiServer, volume: dict[str, Any],
                               mount: dict[str, Any], field: str) -> None:
    body = {"metadata": {"name": "escape"}, "spec": {
        "volumes": [{"name": "v", **volume}],
        "containers": [{"name": "c", "image": "busybox",
                        "volumeMounts": [{"name": "v", "mountPath": "/v", **mount}]}]}}
    status, got = apiserver.request("POST", "/api/v1/namespaces/default/pods", body)
    assert status == 422 and got["reason"] == "Invalid", got
    assert [c["field"] for c in got["details"]["causes"]] == [field]
    assert apiserver.request("GET", "/api/v1/namespaces/default/pods/escape")[0] == 404
