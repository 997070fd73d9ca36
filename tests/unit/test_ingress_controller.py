"""The ingress controller's sync (minikube_py/ingress/controller.py) on a FakeClient with
its caches filled and a recording stand-in for the HAProxy process (our own seam): what is
served, when the proxy is checked/started/reloaded, Events once per problem, status."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, cast

import pytest

from minikube_py.api.resources import INGRESSES
from minikube_py.client import ApiClient
from minikube_py.ingress.controller import CONFIG, IngressController
from minikube_py.ingress.proxy import HAProxy, Refused
from minikube_py.ingress.settings import IngressSettings
from tests.fixtures import builders
from tests.fixtures.builders import ingress, ingress_backend, rule
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.tls import TestCA

Obj = dict[str, Any]


class RecordingProxy:
    """Records check/start/reload; `refuse` makes the next check fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.checked: list[str] = []
        self.running = False
        self.refuse = False

    async def check(self, config: Path) -> None:
        self.checked.append(config.read_text())
        self.calls.append("check")
        if self.refuse:
            raise Refused("[ALERT] parsing: bad")

    async def start(self) -> None:
        self.calls.append("start")
        self.running = True

    async def reload(self) -> None:
        self.calls.append("reload")

    async def stop(self) -> None:
        self.running = False


def make(tmp_path: Path, *objs: Obj, publish: tuple[str, ...] = ()
         ) -> tuple[IngressController, RecordingProxy, FakeClient]:
    client, proxy = FakeClient(), RecordingProxy()
    settings = IngressSettings(state_dir=str(tmp_path / "ingress"), publish_addresses=publish)
    controller = IngressController(cast(ApiClient, client), settings, cast(HAProxy, proxy))
    by_kind = {i.resource.kind: i for i in controller.informers}
    fill(by_kind["IngressClass"], builders.ingressclass(default=True))
    for obj in objs:
        fill(by_kind[obj["kind"]], obj)
        if obj["kind"] == "Ingress":
            client.put(INGRESSES, obj)
    return controller, proxy, client


WEB = builders.service("web", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
SLICE = builders.endpointslice("web-1", service="web", ports=[{"name": "http", "port": 8080}],
                               endpoints=[{"addresses": ["10.244.0.5"]}])
SITE = ingress("site", rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", 80)))])


async def test_first_sync_starts_then_only_changes_reload(tmp_path: Path) -> None:
    controller, proxy, _ = make(tmp_path, WEB, SLICE, SITE)
    await controller.sync(CONFIG)
    assert proxy.calls == ["check", "start"]
    assert "server s0 10.244.0.5:8080" in proxy.checked[0]
    await controller.sync(CONFIG)
    assert proxy.calls == ["check", "start"]  # nothing changed: nothing reloaded
    fill(controller.slices, builders.endpointslice(
        "web-1", service="web", ports=[{"name": "http", "port": 8080}],
        endpoints=[{"addresses": ["10.244.0.5"]}, {"addresses": ["10.244.0.9"]}]))
    await controller.sync(CONFIG)
    assert proxy.calls == ["check", "start", "check", "reload"]
    assert "server s1 10.244.0.9:8080" in proxy.checked[-1]
    config = Path(controller.paths.config).read_text()
    assert config == proxy.checked[-1]  # what runs is byte-for-byte what was checked


@pytest.mark.parametrize(("served", "obj"), [
    pytest.param(True, SITE, id="our class"),
    pytest.param(True, ingress("plain", ingress_class=None, rules=SITE["spec"]["rules"]),
                 id="no class while ours is the default"),
    pytest.param(False, ingress("other", ingress_class="nginx", rules=SITE["spec"]["rules"]),
                 id="another class"),
])
async def test_which_ingresses_are_served(tmp_path: Path, served: bool, obj: Obj) -> None:
    controller, proxy, _ = make(tmp_path, WEB, SLICE, obj)
    await controller.sync(CONFIG)
    assert ("a.com" in proxy.checked[0]) is served


async def test_problems_become_one_warning_event_each_and_the_rest_serves(tmp_path: Path
                                                                          ) -> None:
    broken = ingress("broken", rules=[rule("b.com", ("/", "Prefix", ingress_backend("gone")))],
                     tls=[{"hosts": ["b.com"], "secretName": "nope"}])
    controller, proxy, client = make(tmp_path, WEB, SLICE, SITE, broken)
    await controller.sync(CONFIG)
    await controller.sync(CONFIG)
    assert sorted(client.events()) == [
        ("Warning", "SecretNotFound", "secret default/nope not found"),
        ("Warning", "ServiceNotFound", "service default/gone not found")]
    assert "server s0 10.244.0.5:8080" in proxy.checked[-1]


async def test_a_refused_configuration_is_never_installed(tmp_path: Path) -> None:
    controller, proxy, client = make(tmp_path, WEB, SLICE, SITE)
    await controller.sync(CONFIG)
    before = controller.paths.config.read_text()
    proxy.refuse = True
    fill(controller.ingresses, ingress("more", rules=[
        rule("c.com", ("/", "Prefix", ingress_backend("web", 80)))]))
    await controller.sync(CONFIG)
    assert proxy.calls == ["check", "start", "check"]
    assert controller.paths.config.read_text() == before
    assert ("Warning", "InvalidConfiguration", "[ALERT] parsing: bad") in client.events()


async def test_status_gets_every_publish_address_once(tmp_path: Path) -> None:
    """Every serving node's controller writes the same list: the second finds it written."""
    controller, _, client = make(tmp_path, WEB, SLICE, SITE, publish=("192.0.2.7", "192.0.2.8"))
    await controller.sync(CONFIG)
    stored = client.stored(INGRESSES, "site", "default")
    assert stored is not None and stored["status"] == {"loadBalancer": {"ingress": [
        {"ip": "192.0.2.7"}, {"ip": "192.0.2.8"}]}}
    fill(controller.ingresses, stored)
    writes = len(client.writes)
    await controller.sync(CONFIG)
    assert len(client.writes) == writes


async def test_tls_material_is_private_and_follows_the_secret(tmp_path: Path) -> None:
    ca = TestCA()
    secured = ingress("tls", rules=SITE["spec"]["rules"],
                      tls=[{"hosts": ["a.com"], "secretName": "a-tls"}])
    controller, proxy, _ = make(tmp_path, WEB, SLICE, secured,
                                builders.tls_secret("a-tls", *ca.issue("a.com")))
    await controller.sync(CONFIG)
    pem = controller.certs.file("default_a-tls")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE(controller.certs.path.stat().st_mode) == 0o700
    first = pem.read_bytes()
    fill(controller.secrets, builders.tls_secret("a-tls", *ca.issue("a.com")))
    await controller.sync(CONFIG)
    assert pem.read_bytes() != first
    assert proxy.calls[-1] == "reload"  # same config text, new certificate: reloaded
