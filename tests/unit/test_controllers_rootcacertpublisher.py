"""kube-root-ca.crt in every live namespace, holding the CA file's text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from minikube_py.client import ApiClient
from minikube_py.controllers.rootcacertpublisher import NAME, RootCACertPublisher
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.builders import T0, configmap, namespace
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

CA = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"


def publisher(tmp_path: Path) -> tuple[RootCACertPublisher, FakeClient]:
    (tmp_path / "ca.crt").write_text(CA)
    client = FakeClient()
    return RootCACertPublisher(cast(ApiClient, client), replace(ControllerManagerSettings(),
                                               root_ca_file=str(tmp_path / "ca.crt"))), client


@pytest.mark.parametrize(("existing", "writes"), [
    pytest.param(None, [("create", "configmaps", NAME)], id="missing: created"),
    pytest.param({"ca.crt": "old"}, [("update", "configmaps", NAME)], id="changed: rewritten"),
    pytest.param({"ca.crt": CA}, [], id="current: left alone"),
])
async def test_each_namespace_holds_the_ca(tmp_path: Path, existing: dict[str, str] | None,
                                           writes: list[tuple[str, str, str]]) -> None:
    c, client = publisher(tmp_path)
    fill(c.namespaces, namespace("team"))
    if existing is not None:
        fill(c.configmaps, configmap(NAME, "team", data=existing))
    await c.sync("team")
    assert client.summary() == writes
    if writes:
        assert client.writes[0].body["data"] == {"ca.crt": CA}


async def test_gone_or_terminating_namespaces_get_nothing(tmp_path: Path) -> None:
    c, client = publisher(tmp_path)
    fill(c.namespaces, namespace("old", deletion_timestamp=T0))
    await c.sync("old")
    await c.sync("gone")
    assert client.writes == []
