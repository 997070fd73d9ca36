"""The LoadBalancer address controller: pools, requested addresses, MetalLB's sharing
rules, release on delete, Events, and k3s's ServiceLB node addresses without a pool."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from minikube_py.client import ApiClient
from minikube_py.controllers.lbpool import (
    SHARING_ANNOTATION,
    AllocationError,
    Allocator,
    Claim,
    ip_value,
    parse_pool,
    parse_range,
)
from minikube_py.controllers.servicelb import POOLS_CONFIGMAP, ServiceLBController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient


@pytest.mark.parametrize(("text", "first", "last"), [
    pytest.param("10.0.0.5-10.0.0.7", "10.0.0.5", "10.0.0.7", id="range"),
    pytest.param("10.0.0.0/30", "10.0.0.0", "10.0.0.3", id="cidr"),
    pytest.param("10.0.0.9", "10.0.0.9", "10.0.0.9", id="one-address"),
])
def test_ranges_parse(text: str, first: str, last: str) -> None:
    assert parse_range(text) == (ip_value(first), ip_value(last))


@pytest.mark.parametrize("text", ["10.0.0.9-10.0.0.1", "10.0.0/33", "x-y", "300.1.1.1"])
def test_bad_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_range(text)


def claim(name: str, sharing: str = "", ports: tuple[str, ...] = ("80/TCP",),
          backend: str = "") -> Claim:
    return Claim(f"ns/{name}", sharing, backend, frozenset(ports))


def allocator() -> Allocator:
    return Allocator([parse_pool("a", "10.0.0.1-10.0.0.2")])


@pytest.mark.parametrize(("second", "why"), [
    pytest.param(claim("b", "k", ("53/UDP",)), None, id="same-key-other-port"),
    pytest.param(claim("b", "k", ("80/TCP",)), "port 80/TCP is already in use", id="same-port"),
    pytest.param(claim("b", "other", ("53/UDP",)), "does not match", id="other-key"),
    pytest.param(claim("b", "", ("53/UDP",)), "new service does not allow sharing",
                 id="no-key"),
    pytest.param(claim("b", "k", ("53/UDP",), backend="app=x"), "backend key",
                 id="local-vs-cluster"),
])
def test_sharing_follows_metallb(second: Claim, why: str | None) -> None:
    alloc = allocator()
    ip = alloc.allocate(claim("a", "k"))
    if why is None:
        alloc.assign(second, ip)
        assert set(alloc.users[ip]) == {"ns/a", "ns/b"}
    else:
        with pytest.raises(AllocationError, match=why):
            alloc.assign(second, ip)


def test_an_address_is_free_again_only_when_its_last_sharer_left() -> None:
    alloc = allocator()
    ip = alloc.allocate(claim("a", "k"))
    alloc.assign(claim("b", "k", ("53/UDP",)), ip)
    assert alloc.release("ns/a") is None
    assert alloc.release("ns/b") == ip
    assert alloc.allocate(claim("c")) == ip


def test_a_full_pool_says_so() -> None:
    alloc = allocator()
    alloc.allocate(claim("a"))
    alloc.allocate(claim("b"))
    with pytest.raises(AllocationError, match="no available IPs"):
        alloc.allocate(claim("c"))


# -- the controller -------------------------------------------------------------------------

def lb(name: str, *, ip: str | None = None, annotations: dict[str, str] | None = None,
       spec: dict[str, Any] | None = None, ingress: list[str] | None = None,
       port: int = 80) -> dict[str, Any]:
    body: dict[str, Any] = {"externalTrafficPolicy": "Cluster", **(spec or {})}
    if ip:
        body["loadBalancerIP"] = ip
    svc = builders.service(name, "ns", type="LoadBalancer", spec=body,
                           ports=[{"port": port, "protocol": "TCP"}],
                           annotations=annotations or {})
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": i} for i in ingress or []]}}
    return svc


def controller(*services: dict[str, Any], pools: tuple[str, ...] = ("10.0.0.10-10.0.0.11",),
               nodes: tuple[dict[str, Any], ...] = ()) -> tuple[ServiceLBController, FakeClient]:
    client = FakeClient()
    settings = dataclasses.replace(ControllerManagerSettings(), lb_address_pools=pools)
    c = ServiceLBController(cast(ApiClient, client), settings)
    fill(c.services, *services)
    fill(c.nodes, *nodes)
    return c, client


def status_patches(client: FakeClient) -> dict[str, Any]:
    return {w.name: w.body["status"]["loadBalancer"]["ingress"] for w in client.writes
            if w.verb == "patch" and w.resource == "services/status"}


async def test_first_free_address_is_written_with_ip_mode_vip() -> None:
    c, client = controller(lb("web", ingress=["10.0.0.10"]), lb("api"))
    await c.sync("ns/api")
    assert status_patches(client) == {"api": [{"ip": "10.0.0.11", "ipMode": "VIP"}]}
    assert client.events() == [("Normal", "IPAllocated", 'Assigned IP ["10.0.0.11"]')]


async def test_requested_address_is_honoured_and_refused_outside_the_pools() -> None:
    c, client = controller(lb("web", ip="10.0.0.11"), lb("bad", ip="10.9.9.9"))
    await c.sync("ns/web")
    await c.sync("ns/bad")
    assert status_patches(client) == {"web": [{"ip": "10.0.0.11", "ipMode": "VIP"}]}
    message = 'Failed to allocate IP for "ns/bad": 10.9.9.9 is not allowed in config'
    assert client.events()[-1] == ("Warning", "AllocationFailed", message)


async def test_a_pending_service_gets_the_address_a_deleted_one_frees() -> None:
    c, client = controller(lb("a"), lb("b"), lb("c"))
    for key in ("ns/a", "ns/b", "ns/c"):
        await c.sync(key)
    assert client.events()[-1][:2] == ("Warning", "AllocationFailed")
    assert "no available IPs" in client.events()[-1][2]
    c.services.cache.remove("ns/a")
    await c.sync("ns/a")
    assert await c.queue.get() == "ns/c"
    await c.sync("ns/c")
    assert status_patches(client)["c"] == [{"ip": "10.0.0.10", "ipMode": "VIP"}]


async def test_sharing_key_puts_two_services_on_one_address() -> None:
    shared = {SHARING_ANNOTATION: "dns"}
    c, client = controller(lb("tcp", annotations=shared, port=53),
                           lb("udp", annotations=shared, port=54, ip="10.0.0.10"))
    await c.sync("ns/tcp")
    await c.sync("ns/udp")
    assert status_patches(client) == {"tcp": [{"ip": "10.0.0.10", "ipMode": "VIP"}],
                                      "udp": [{"ip": "10.0.0.10", "ipMode": "VIP"}]}


async def test_held_addresses_survive_a_restart_and_foreign_classes_are_left_alone() -> None:
    other = lb("other", spec={"loadBalancerClass": "example.com/lb"}, ingress=["1.2.3.4"])
    c, client = controller(lb("web", ingress=["10.0.0.11"]), lb("new"), other)
    await c.sync("ns/new")
    await c.sync("ns/web")
    await c.sync("ns/other")
    assert status_patches(client) == {"new": [{"ip": "10.0.0.10", "ipMode": "VIP"}]}


async def test_a_service_no_longer_loadbalancer_loses_its_status() -> None:
    svc = lb("web", ingress=["10.0.0.10"])
    svc["spec"]["type"] = "ClusterIP"
    c, client = controller(svc)
    await c.sync("ns/web")
    assert status_patches(client) == {"web": None}


async def test_pools_from_the_configmap() -> None:
    c, client = controller(lb("web", annotations={"minikube-py.io/address-pool": "lan"}),
                           pools=())
    ns, name = POOLS_CONFIGMAP.split("/")
    fill(c.configmaps, builders.configmap(name, ns, data={"lan": "192.168.5.7/32"}))
    await c.sync("ns/web")
    assert status_patches(client) == {"web": [{"ip": "192.168.5.7", "ipMode": "VIP"}]}


def node(name: str, ip: str, ready: bool = True) -> dict[str, Any]:
    n = builders.node(name, ready=ready)
    n["status"]["addresses"].append({"type": "InternalIP", "address": ip})
    return n


async def test_without_pools_the_ready_nodes_addresses_are_the_ingress() -> None:
    c, client = controller(lb("web"), pools=(),
                           nodes=(node("n2", "192.168.1.12"), node("n1", "192.168.1.3"),
                                  node("n3", "192.168.1.13", ready=False)))
    await c.sync("ns/web")
    assert status_patches(client) == {"web": [{"ip": "192.168.1.3", "ipMode": "VIP"},
                                              {"ip": "192.168.1.12", "ipMode": "VIP"}]}


async def test_without_pools_local_policy_lists_nodes_with_endpoints() -> None:
    c, client = controller(lb("web", spec={"externalTrafficPolicy": "Local"}), pools=(),
                           nodes=(node("n1", "192.168.1.3"), node("n2", "192.168.1.12")))
    ep = builders.endpoints("web", "ns", ips=["10.244.1.5"])
    ep["subsets"][0]["addresses"][0]["nodeName"] = "n2"
    fill(c.endpoints, ep)
    await c.sync("ns/web")
    assert status_patches(client) == {"web": [{"ip": "192.168.1.12", "ipMode": "VIP"}]}
