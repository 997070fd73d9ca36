"""EndpointSlice controller: each selecting Service's Endpoints mirrored into
slices named deterministically, owned by the Service (Kubernetes'
endpointslice reconciler_test.go cases that apply to a mirror of Endpoints)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.resources import ENDPOINTSLICES
from minikube_py.client.errors import AlreadyExists, Conflict, NotFound
from minikube_py.controllers.endpointslice import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    EndpointSliceController,
)
from tests.fixtures.builders import endpoints, endpointslice, ref, service
from tests.fixtures.controllers import start
from tests.fixtures.queues import recorded

JsonDict = dict[str, Any]
WEB = service("web", "ns", labels={"tier": "fe"})
PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]
LABELS = {"tier": "fe", SERVICE_NAME_LABEL: "web", MANAGED_BY_LABEL: MANAGED_BY}


def ready(ip: str, ok: bool = True) -> JsonDict:
    return {"addresses": [ip], "conditions": {"ready": ok, "serving": ok, "terminating": False}}


def ours(name: str, *, endpoints: list[JsonDict], ports: list[JsonDict] = PORTS,
         address_type: str = "IPv4") -> JsonDict:
    """A slice as the controller writes it for WEB."""
    return endpointslice(name, "ns", endpoints=endpoints, ports=ports, address_type=address_type,
                         labels={"tier": "fe"}, owners=[ref(WEB)])


def content(slice_: JsonDict) -> JsonDict:
    meta = slice_["metadata"]
    return {"name": meta["name"], "labels": meta["labels"],
            "ownerReferences": meta["ownerReferences"], "addressType": slice_["addressType"],
            "endpoints": slice_["endpoints"], "ports": slice_["ports"]}


@pytest.mark.parametrize(
    ("eps", "slices"),
    [
        pytest.param(endpoints("web", "ns", ips=["10.244.0.5"], not_ready=["10.244.0.6"]),
                     [ours("web-mkp", endpoints=[ready("10.244.0.5"),
                                                 ready("10.244.0.6", False)])],
                     id="ready and not ready addresses share one slice"),
        pytest.param(None, [ours("web-mkp", endpoints=[], ports=[])],
                     id="a service without endpoints gets one empty placeholder slice"),
        pytest.param(endpoints("web", "ns", subsets=[
            {"addresses": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}], "ports": PORTS},
            {"addresses": [{"ip": "10.244.0.7"}],
             "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]}]),
            [ours("web-mkp", endpoints=[ready("10.244.0.5")]),
             ours("web-mkp-1", endpoints=[ready("fd00::5")], address_type="IPv6"),
             ours("web-mkp-2", endpoints=[ready("10.244.0.7")],
                  ports=[{"name": "http", "port": 9090, "protocol": "TCP"}])],
            id="one slice per subset and address family"),
    ],
)
async def test_slices_mirror_the_endpoints(eps: JsonDict | None, slices: list[JsonDict]) -> None:
    c, client = start(EndpointSliceController, WEB, *([eps] if eps else []))
    await c.sync("ns/web")
    assert [(w.verb, w.resource) for w in client.writes] == [("create", "endpointslices")] * len(
        slices)
    assert [content(w.body) for w in client.writes] == [content(s) for s in slices]


async def test_node_and_target_of_an_address_are_kept() -> None:
    target = {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}
    eps = endpoints("web", "ns", subsets=[{"addresses": [
        {"ip": "10.244.0.5", "nodeName": "n1", "targetRef": target}], "ports": PORTS}])
    c, client = start(EndpointSliceController, WEB, eps)
    await c.sync("ns/web")
    assert client.writes[0].body["endpoints"] == [{**ready("10.244.0.5"), "nodeName": "n1",
                                                   "targetRef": target}]


ONE = endpoints("web", "ns", ips=["10.244.0.5"])
CURRENT = ours("web-mkp", endpoints=[ready("10.244.0.5")])


@pytest.mark.parametrize(
    ("current", "writes"),
    [
        pytest.param([CURRENT], [], id="slices already right are not written again"),
        pytest.param([ours("web-mkp", endpoints=[])], [("update", "endpointslices", "web-mkp")],
                     id="a slice missing an address is updated"),
        pytest.param([endpointslice("web-mkp", "ns", endpoints=[ready("10.244.0.5")],
                                    ports=PORTS)],
                     [("update", "endpointslices", "web-mkp")],
                     id="a slice that lost its labels and owner is updated"),
        pytest.param([CURRENT, ours("web-mkp-1", endpoints=[ready("10.244.9.9")])],
                     [("delete", "endpointslices", "web-mkp-1")],
                     id="slices of subsets that went are deleted"),
        pytest.param([CURRENT, endpointslice("web-other", "ns", managed_by="someone-else")], [],
                     id="slices another manager wrote for the service are left alone"),
    ],
)
async def test_existing_slices(current: list[JsonDict],
                               writes: list[tuple[str, str, str]]) -> None:
    c, client = start(EndpointSliceController, WEB, ONE, *current)
    await c.sync("ns/web")
    assert client.summary() == writes
    for w in client.writes:
        if w.verb == "update":
            assert content(w.body) == content(CURRENT)
            assert w.body["metadata"]["uid"] == current[0]["metadata"]["uid"]


@pytest.mark.parametrize(
    "objs",
    [
        pytest.param([CURRENT], id="a deleted service's slices are deleted"),
        pytest.param([service("web", "ns", selector=None), CURRENT],
                     id="a service that stopped selecting loses its slices"),
    ],
)
async def test_slices_without_a_selecting_service_go(objs: list[JsonDict]) -> None:
    c, client = start(EndpointSliceController, *objs)
    await c.sync("ns/web")
    assert client.summary() == [("delete", "endpointslices", "web-mkp")]


async def test_a_slice_already_deleted_is_not_an_error() -> None:
    c, client = start(EndpointSliceController, CURRENT)
    client.fail("delete", ENDPOINTSLICES, "web-mkp", error=NotFound)
    await c.sync("ns/web")
    assert client.writes == []


async def test_a_slice_the_cache_has_not_seen_is_read_and_updated() -> None:
    c, client = start(EndpointSliceController, WEB, ONE)
    client.put(ENDPOINTSLICES, endpointslice("web-mkp", "ns", resource_version="7"))
    await c.sync("ns/web")
    assert client.summary() == [("update", "endpointslices", "web-mkp")]
    assert client.writes[0].body["metadata"]["resourceVersion"] == "7"
    assert content(client.writes[0].body) == content(CURRENT)


async def test_a_conflicting_update_is_retried_by_the_queue() -> None:
    c, client = start(EndpointSliceController, WEB, ONE, ours("web-mkp", endpoints=[]))
    client.fail("update", ENDPOINTSLICES, "web-mkp", error=Conflict)
    with pytest.raises(Conflict):
        await c.sync("ns/web")


async def test_a_create_racing_a_delete_is_retried_by_the_queue() -> None:
    c, client = start(EndpointSliceController, WEB, ONE)
    client.fail("create", ENDPOINTSLICES, "web-mkp", error=AlreadyExists)
    with pytest.raises(NotFound):
        await c.sync("ns/web")


# -- what informer events queue -------------------------------------------------------------

@pytest.mark.parametrize(
    ("events", "queued"),
    [
        pytest.param([("services", "ADDED", WEB)], ["ns/web"], id="a service queues itself"),
        pytest.param([("endpoints", "ADDED", ONE)], ["ns/web"],
                     id="endpoints queue their service"),
        pytest.param([("slices", "ADDED", CURRENT), ("slices", "DELETED", CURRENT)], ["ns/web"],
                     id="a slice of ours deleted by someone is put back"),
        pytest.param([("slices", "ADDED", endpointslice("x", "ns", managed_by="someone-else")),
                      ("slices", "DELETED", endpointslice("x", "ns", managed_by="someone-else"))],
                     [], id="another manager's slices are not ours to put back"),
    ],
)
def test_events_queue_the_services_concerned(events: list[tuple[str, str, JsonDict]],
                                             queued: list[str]) -> None:
    c, _ = start(EndpointSliceController)
    for informer, kind, obj in events:
        getattr(c, informer).apply(kind, obj)
    assert recorded(c.queue).added == queued
