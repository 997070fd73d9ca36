"""No way out of a pod through its volumes: every path that names a place inside a
volume is relative and free of `..`, file modes are 0-0777 (422 naming the field)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import PODS


def pod(volume: dict[str, Any], mount: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {
        "volumes": [{"name": "v", **volume}],
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [
            {"name": "v", "mountPath": "/data", **(mount or {})}]}]}}


def causes(obj: dict[str, Any]) -> list[tuple[str, str]]:
    obj = copy.deepcopy(obj)
    strategy = strategy_for(PODS)
    strategy.default(obj)
    strategy.prepare_create(obj)
    return [(c.field, c.message) for c in strategy.validate_create(obj)]


EMPTY: dict[str, Any] = {"emptyDir": {}}
ITEMS = [{"key": "k", "path": "ok/file"}]
V, M = "spec.volumes[0]", "spec.containers[0].volumeMounts[0]"


@pytest.mark.parametrize(("volume", "mount", "field", "message"), [
    pytest.param(EMPTY, {"subPath": "/etc"}, f"{M}.subPath",
                 'Invalid value: "/etc": must be a relative path', id="absolute subPath"),
    pytest.param(EMPTY, {"subPath": "a/../../etc"}, f"{M}.subPath",
                 "Invalid value: \"a/../../etc\": must not contain '..'", id="subPath up"),
    pytest.param(EMPTY, {"subPathExpr": "$(POD)/.."}, f"{M}.subPathExpr",
                 "Invalid value: \"$(POD)/..\": must not contain '..'", id="subPathExpr up"),
    pytest.param(EMPTY, {"subPath": "a", "subPathExpr": "b"}, f"{M}.subPathExpr",
                 'Invalid value: "b": subPathExpr and subPath are mutually exclusive',
                 id="both"),
    pytest.param({"secret": {"secretName": "s", "items": [{"key": "k", "path": "../x"}]}},
                 None, f"{V}.secret.items[0].path",
                 "Invalid value: \"../x\": must not contain '..'", id="secret item up"),
    pytest.param({"configMap": {"name": "c", "items": [{"key": "k", "path": "/x"}]}}, None,
                 f"{V}.configMap.items[0].path", 'Invalid value: "/x": must be a relative path',
                 id="configMap item absolute"),
    pytest.param({"configMap": {"name": "c", "items": [{"key": "k", "path": "x",
                                                         "mode": 0o4755}]}}, None,
                 f"{V}.configMap.items[0].mode",
                 "Invalid value: 2541: must be a number between 0 and 0777 (octal), both "
                 "inclusive", id="setuid item mode"),
    pytest.param({"secret": {"secretName": "s", "defaultMode": -1}}, None,
                 f"{V}.secret.defaultMode", "Invalid value: -1: must be a number between 0 "
                 "and 0777 (octal), both inclusive", id="negative defaultMode"),
    pytest.param({"downwardAPI": {"items": [{"path": "../../etc/x", "fieldRef": {
        "fieldPath": "metadata.name"}}]}}, None, f"{V}.downwardAPI.items[0].path",
        "Invalid value: \"../../etc/x\": must not contain '..'", id="downwardAPI up"),
    pytest.param({"projected": {"sources": [{"serviceAccountToken": {"path": "/t"}}]}},
                 None, f"{V}.projected.sources[0].serviceAccountToken.path",
                 'Invalid value: "/t": must be a relative path', id="projected token"),
    pytest.param({"projected": {"sources": [{"secret": {"name": "s", "items": [
        {"key": "k", "path": "a/.."}]}}]}}, None, f"{V}.projected.sources[0].secret.items[0].path",
        "Invalid value: \"a/..\": must not contain '..'", id="projected secret item"),
    pytest.param({"projected": {"defaultMode": 0o1000, "sources": []}}, None,
                 f"{V}.projected.defaultMode", "Invalid value: 512: must be a number between 0 "
                 "and 0777 (octal), both inclusive", id="projected defaultMode"),
])
def test_escapes_are_refused(volume: dict[str, Any], mount: dict[str, Any] | None,
                             field: str, message: str) -> None:
    assert causes(pod(volume, mount)) == [(field, message)]


@pytest.mark.parametrize(("volume", "mount"), [
    pytest.param(EMPTY, {"subPath": "a/b..c/..d"}, id="dots inside names are fine"),
    pytest.param({"secret": {"secretName": "s", "items": ITEMS, "defaultMode": 0o400}}, None,
                 id="relative items and a 0400 mode"),
    pytest.param({"projected": {"sources": [{"configMap": {"name": "c", "items": ITEMS}}]}},
                 None, id="projected items"),
])
def test_paths_below_the_volume_are_valid(volume: dict[str, Any],
                                          mount: dict[str, Any] | None) -> None:
    assert causes(pod(volume, mount)) == []
