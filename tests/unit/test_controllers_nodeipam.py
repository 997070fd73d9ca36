"""Node IPAM controller: subnet set and sync, with the API client faked at our seam."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest

from minikube_py.client.errors import NotFound
from minikube_py.controllers.nodeipam import CidrSet, NodeIpamController

Net = ipaddress.IPv4Network


class FakeClient:
    """Records patches; a node listed in `missing` answers 404 (our ApiClient seam)."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict]] = []
        self.missing: set[str] = set()
        self.events: list[tuple] = []

    async def patch(self, resource, name, patch, namespace=None, **kw):
        if name in self.missing:
            raise NotFound({"reason": "NotFound", "message": f"nodes {name} not found"}, 404)
        self.patches.append((name, patch))
        return {}

    async def create(self, resource, obj, namespace=None):
        self.events.append(obj)
        return obj


def node(name: str, cidr: str | None = None) -> dict:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": name},
            "spec": spec}


def controller(*nodes: dict, cluster: str = "10.244.0.0/16", mask: int = 24):
    ctl = NodeIpamController(FakeClient(), SimpleNamespace(cluster_cidr=cluster,
                                                           node_cidr_mask_size=mask))
    for n in nodes:
        ctl.nodes.cache.put(n["metadata"]["name"], n)
    ctl.rebuild()
    return ctl


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
    assert ctl.client.patches == [("b", {"spec": {"podCIDR": "10.244.1.0/24",
                                                  "podCIDRs": ["10.244.1.0/24"]}})]


async def test_rebuilt_from_nodes_so_nothing_is_handed_out_twice() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"), node("c"))
    await ctl.sync("c")
    assert ctl.client.patches[0][1]["spec"]["podCIDR"] == "10.244.2.0/24"


async def test_many_nodes_get_distinct_subnets_and_stale_cache_is_not_reallocated() -> None:
    ctl = controller(*[node(f"n{i}") for i in range(20)])
    for i in range(20):
        await ctl.sync(f"n{i}")
    await ctl.sync("n3")  # the cache has not seen the patch yet: same subnet again
    cidrs = [p["spec"]["podCIDR"] for _, p in ctl.client.patches]
    assert len(set(cidrs)) == 20 and cidrs[-1] == cidrs[3]


async def test_deleted_node_frees_its_subnet() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"))
    ctl.nodes.cache.remove("a")
    await ctl.sync("a")
    assert "a" not in ctl.assigned and len(ctl.cidrs) == 1
    ctl.nodes.cache.put("c", node("c"))
    await ctl.sync("c")
    await ctl.sync("b")  # has one: untouched
    # a's subnet is free again and is the first free one
    assert [p["spec"]["podCIDR"] for _, p in ctl.client.patches] == ["10.244.0.0/24"]


async def test_node_gone_before_the_patch_releases_the_subnet() -> None:
    ctl = controller(node("a"))
    ctl.client.missing.add("a")
    await ctl.sync("a")
    assert len(ctl.cidrs) == 0 and ctl.assigned == {}


async def test_exhausted_cluster_cidr_is_an_error_and_an_event() -> None:
    ctl = controller(node("a", "10.244.0.0/24"), node("b"), cluster="10.244.0.0/24")
    with pytest.raises(RuntimeError, match="exhausted"):
        await ctl.sync("b")
    assert ctl.client.patches == []
    assert ctl.client.events and ctl.client.events[0]["reason"] == "CIDRNotAvailable"
