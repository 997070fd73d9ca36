"""Node IPAM controller: subnet set and sync, with the API client faked at our seam
(tests/fixtures/fake_client.py)."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace
from typing import Any, cast

import pytest

from minikube_py.api.resources import NODES
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.controllers.nodeipam import CidrSet, NodeIpamController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

Net = ipaddress.IPv4Network


def node(name: str, cidr: str | None = None) -> dict[str, Any]:
    return builders.node(name, pod_cidr=cidr)


def controller(*nodes: dict[str, Any], cluster: str = "10.244.0.0/16",
               mask: int = 24) -> NodeIpamController:
    # the controller reads node_cidr_mask_size (not a settings field) with getattr
    settings = SimpleNamespace(cluster_cidr=cluster, node_cidr_mask_size=mask)
    ctl = NodeIpamController(cast(ApiClient, FakeClient()),
                             cast(ControllerManagerSettings, settings))
    fill(ctl.nodes, *nodes)
    ctl.rebuild()
    return ctl


def fake(ctl: NodeIpamController) -> FakeClient:
    return cast(FakeClient, ctl.client)


def patches(ctl: NodeIpamController) -> list[tuple[str, Any]]:
    return [(w.name, w.body) for w in fake(ctl).writes if w.verb == "patch"]


def test_cidr_set_next_fit_and_release() -> None:
    s = CidrSet(Net("10.244.0.0/22"), 24)
    got = [s.allocate() for _ in range(4)]
    assert [str(c) for c in got] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24",
                                     "10.244.3.0/24"]
    assert s.allocate() is None
    s.release(Net("10.244.1.0/24"))
    assert str(s.allocate()) == "10.244.1.0/24"


def test_cidr_set_ignores_foreign_subnets() -> None:
    s = CidrSet(Net("10.244.0.0/16"), 24)
    assert not s.occupy(Net("10.1.0.0/24")) and not s.occupy(Net("10.244.0.0/25"))
    with pytest.raises(ValueError):
        CidrSet(Net("10.244.0.0/16"), 8)


async def test_new_node_gets_the_first_free_subnet_in_spec() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b"))
    await ctl.sync("b")
    assert patches(ctl) == [("b", {"spec": {"podCIDR": "10.244.1.0/24",
                                                  "podCIDRs": ["10.244.1.0/24"]}})]


async def test_rebuilt_from_nodes_so_nothing_is_handed_out_twice() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"), node("c"))
    await ctl.sync("c")
    assert patches(ctl)[0][1]["spec"]["podCIDR"] == "10.244.2.0/24"


async def test_many_nodes_get_distinct_subnets_and_stale_cache_is_not_reallocated() -> None:
    ctl = controller(*[node(f"n{i}") for i in range(20)])
    for i in range(20):
        await ctl.sync(f"n{i}")
    await ctl.sync("n3")  # the cache has not seen the patch yet: same subnet again
    cidrs = [p["spec"]["podCIDR"] for _, p in patches(ctl)]
    assert len(set(cidrs)) == 20 and cidrs[-1] == cidrs[3]


async def test_deleted_node_frees_its_subnet() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"))
    ctl.nodes.cache.remove("a")
    await ctl.sync("a")
    assert "a" not in ctl.assigned and len(ctl.cidrs) == 1
    fill(ctl.nodes, node("c"))
    await ctl.sync("c")
    await ctl.sync("b")  # has one: untouched
    # a's subnet is free again and is the first free one
    assert [p["spec"]["podCIDR"] for _, p in patches(ctl)] == ["10.244.0.0/24"]


async def test_node_gone_before_the_patch_releases_the_subnet() -> None:
    ctl = controller(node("a"))
    fake(ctl).fail("patch", NODES, "a", error=NotFound)
    await ctl.sync("a")
    assert len(ctl.cidrs) == 0 and ctl.assigned == {}


async def test_exhausted_cluster_cidr_is_an_error_and_an_event() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b"), cluster="10.244.0.0/24")
    with pytest.raises(RuntimeError, match="exhausted"):
        await ctl.sync("b")
    assert patches(ctl) == []
    assert [reason for _, reason, _ in fake(ctl).events()] == ["CIDRNotAvailable"]
