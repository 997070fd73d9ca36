"""Garbage collector: dependents of owners that are gone are deleted, Orphan and
Foreground deletions are carried out, owners are confirmed gone with a live
read first (Kubernetes' garbagecollector_test.go attemptToDeleteItem and
processDeletingDependentsItem cases, over our fake client)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from minikube_py.api.meta import key
from minikube_py.api.resources import DEPLOYMENTS, PODS
from minikube_py.client.errors import ApiError, Conflict, NotFound, ServerError
from minikube_py.controllers.garbagecollector import FOREGROUND, ORPHAN, GarbageCollector
from tests.fixtures.builders import (
    T0,
    configmap,
    deployment,
    namespace,
    pod,
    ref,
    replicaset,
    service,
)
from tests.fixtures.controllers import resource_of, start
from tests.fixtures.fake_client import Write
from tests.fixtures.queues import recorded

JsonDict = dict[str, Any]
RS = replicaset("web", "ns")
DEPLOY = deployment("web", "ns")


def options(obj: JsonDict, policy: str) -> JsonDict:
    return {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy,
            "preconditions": {"uid": obj["metadata"]["uid"]}}


def item(obj: JsonDict) -> tuple[str, str, str, str]:
    resource = resource_of(obj)
    return (resource.group, resource.version, resource.plural, key(obj))


def deleted(obj: JsonDict, policy: str = "Background") -> Write:
    resource = resource_of(obj)
    meta = obj["metadata"]
    return Write("delete", resource.plural, meta.get("namespace"), meta["name"],
                 options(obj, policy))


# -- a dependent's owners -------------------------------------------------------------------

OWNED = pod("a", "ns", owners=[ref(RS)])


@pytest.mark.parametrize(
    ("cached", "live", "writes"),
    [
        pytest.param([RS, OWNED], [], [], id="a dependent of a cached owner is kept"),
        pytest.param([OWNED], [RS], [],
                     id="a dependent of an owner the cache has not seen yet is kept"),
        pytest.param([OWNED], [], [deleted(OWNED)],
                     id="a dependent whose owner is gone is deleted in the background"),
        pytest.param([OWNED], [replicaset("web", "ns", uid="uid-of-a-new-web")],
                     [deleted(OWNED)],
                     id="a dependent of an owner deleted and created again is deleted"),
        pytest.param([pod("a", "ns", owners=[{**ref(RS), "kind": "Widget",
                                              "apiVersion": "example.com/v1"}])], [], [],
                     id="a dependent of a kind the collector cannot resolve (a custom "
                        "kind) is kept, as Kubernetes' RESTMapper failure keeps it"),
        pytest.param([pod("a", "ns", owners=[ref(RS)], deletion_timestamp=T0)], [], [],
                     id="a dependent being deleted is left to finish"),
        pytest.param([pod("a", "ns")], [], [], id="an object without owners is left alone"),
    ],
)
async def test_dependents_follow_their_owners(cached: list[JsonDict], live: list[JsonDict],
                                              writes: list[Write]) -> None:
    c, client = start(GarbageCollector, *cached, live=live)
    await c.sync(item(cached[-1]))
    assert client.writes == writes


async def test_references_to_owners_that_are_gone_are_dropped_while_one_remains() -> None:
    gone = ref(replicaset("old", "ns"), controller=False)
    svc = service("web", "ns")
    dependent = pod("a", "ns", owners=[gone, ref(svc, controller=False)])
    c, client = start(GarbageCollector, svc, dependent)
    await c.sync(item(dependent))
    assert client.writes == [Write("patch", "pods", "ns", "a", {"metadata": {
        "ownerReferences": [ref(svc, controller=False)],
        "uid": dependent["metadata"]["uid"]}}, "merge")]


async def test_an_owner_in_another_namespace_is_no_owner() -> None:
    """Kubernetes looks an owner up in its dependent's namespace only
    (OwnerRefInvalidNamespace): a namespaced owner elsewhere does not keep it."""
    elsewhere = replicaset("web", "other", uid="uid-shared")
    dependent = pod("a", "ns", owners=[ref(elsewhere)])
    c, client = start(GarbageCollector, elsewhere, dependent)
    await c.sync(item(dependent))
    assert client.writes == [deleted(dependent)]


async def test_a_cluster_scoped_object_is_never_collected_for_a_namespaced_owner() -> None:
    """Kubernetes 1.20+: such a reference cannot be resolved (there is no namespace
    to look in), so the object is not garbage collected because of it."""
    ns = namespace("team", owners=[ref(RS)])
    c, client = start(GarbageCollector, ns)
    await c.sync(item(ns))
    assert client.writes == []


@pytest.mark.parametrize(
    ("block", "policy"),
    [
        pytest.param(True, "Foreground",
                     id="a blocking dependent of a foreground deletion goes in the foreground"),
        pytest.param(False, "Background",
                     id="a non-blocking dependent of a foreground deletion goes in the background"),
    ],
)
async def test_dependents_of_an_owner_deleted_in_the_foreground(block: bool,
                                                                policy: str) -> None:
    owner = replicaset("web", "ns", deletion_timestamp=T0, finalizers=[FOREGROUND])
    dependent = pod("a", "ns", owners=[ref(owner, block=block)])
    c, client = start(GarbageCollector, owner, dependent)
    await c.sync(item(dependent))
    assert client.writes == [deleted(dependent, policy)]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(NotFound, id="a dependent already gone is not an error"),
        pytest.param(Conflict, id="a dependent replaced meanwhile (uid precondition) is kept"),
    ],
)
async def test_collection_races(error: type[ApiError]) -> None:
    c, client = start(GarbageCollector, OWNED)
    client.fail("delete", PODS, "a", error=error)
    await c.sync(item(OWNED))
    assert client.writes == []


async def test_a_failed_delete_is_retried_by_the_queue() -> None:
    c, client = start(GarbageCollector, OWNED)
    client.fail("delete", PODS, "a", error=ServerError)
    with pytest.raises(ServerError):
        await c.sync(item(OWNED))


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(("", "v1", "pods", "ns/missing"), id="an object gone is nothing to do"),
        pytest.param(("example.com", "v1", "widgets", "ns/a"),
                     id="a resource nobody serves is nothing to do"),
    ],
)
async def test_nothing_to_collect(key: tuple[str, str, str, str]) -> None:
    c, client = start(GarbageCollector)
    await c.sync(key)
    assert client.writes == []


# -- owners being deleted --------------------------------------------------------------------

def finalizers_patch(obj: JsonDict, remaining: list[str]) -> Write:
    meta = obj["metadata"]
    return Write("patch", resource_of(obj).plural, meta.get("namespace"), meta["name"],
                 {"metadata": {"finalizers": remaining, "resourceVersion": "1"}}, "merge")


async def test_orphan_deletion_releases_the_dependents_then_the_owner() -> None:
    owner = replicaset("web", "ns", deletion_timestamp=T0, finalizers=[ORPHAN, "keep/me"])
    other = service("web", "ns")
    both = pod("a", "ns", owners=[ref(owner), ref(other, controller=False)])
    only = pod("b", "ns", owners=[ref(owner)])
    c, client = start(GarbageCollector, owner, other, both, only)
    await c.sync(item(owner))
    released = {w.name: w.body["metadata"]["ownerReferences"] for w in client.writes
                if w.resource == "pods"}
    assert released == {"a": [ref(other, controller=False)], "b": []}
    assert client.writes[-1] == finalizers_patch(owner, ["keep/me"])


async def test_orphaned_namespace_loses_its_finalizer() -> None:
    ns = namespace("gone", deletion_timestamp=T0, finalizers=[ORPHAN])
    c, client = start(GarbageCollector, ns)
    await c.sync(item(ns))
    assert client.writes == [finalizers_patch(ns, [])]


async def test_foreground_deletion_deletes_the_dependents_first() -> None:
    owner = deployment("web", "ns", deletion_timestamp=T0, finalizers=[FOREGROUND])
    child = replicaset("web-1", "ns", owners=[ref(owner)])
    grandchild = pod("a", "ns", owners=[ref(child)])
    leaving = replicaset("web-2", "ns", owners=[ref(owner)], deletion_timestamp=T0)
    leaf = service("web", "ns", owners=[ref(owner, controller=False)])
    c, client = start(GarbageCollector, owner, child, grandchild, leaving, leaf)
    await c.sync(item(owner))
    assert sorted(client.writes, key=lambda w: w.name) == [
        deleted(leaf), deleted(child, "Foreground")]  # the one with dependents of its own
    # the owner keeps its finalizer until they are gone


async def test_foreground_owner_without_dependents_loses_its_finalizer() -> None:
    owner = deployment("web", "ns", deletion_timestamp=T0, finalizers=[FOREGROUND])
    c, client = start(GarbageCollector, owner)
    await c.sync(item(owner))
    assert client.writes == [finalizers_patch(owner, [])]


async def test_a_finalizer_removal_that_raced_is_retried_by_the_queue() -> None:
    owner = deployment("web", "ns", deletion_timestamp=T0, finalizers=[FOREGROUND])
    c, client = start(GarbageCollector, owner)
    client.put(DEPLOYMENTS, {**owner, "metadata": {**owner["metadata"],
                                                   "resourceVersion": "2"}})
    with pytest.raises(Conflict):
        await c.sync(item(owner))


async def test_an_owner_gone_before_its_finalizer_is_removed_is_fine() -> None:
    owner = deployment("web", "ns", deletion_timestamp=T0, finalizers=[FOREGROUND])
    c, client = start(GarbageCollector, owner)
    client.fail("patch", DEPLOYMENTS, "web", error=NotFound)
    await c.sync(item(owner))
    assert client.writes == []


# -- what informer events queue -------------------------------------------------------------

OWNED_RS = replicaset("web", "ns", owners=[ref(DEPLOY)])


@pytest.mark.parametrize(
    ("cached", "event", "queued"),
    [
        pytest.param([], ("ADDED", OWNED), [item(OWNED)], id="an object with owners is looked at"),
        pytest.param([], ("ADDED", pod("a", "ns")), [], id="an object without owners is not"),
        pytest.param([DEPLOY, OWNED_RS, pod("a", "ns", owners=[ref(OWNED_RS)])],
                     ("DELETED", OWNED_RS),
                     [item(pod("a", "ns")), item(DEPLOY)],
                     id="a deleted owner queues its dependents and its own owners"),
        pytest.param([], ("ADDED", replicaset("web", "ns", deletion_timestamp=T0,
                                              finalizers=[ORPHAN])),
                     [item(RS)], id="an owner deleted with Orphan is looked at"),
        pytest.param([], ("ADDED", replicaset("web", "ns", deletion_timestamp=T0,
                                              finalizers=["example.com/other"])),
                     [], id="an object deleted with others' finalizers is not ours"),
    ],
)
def test_events_queue_what_may_be_collected(cached: list[JsonDict], event: tuple[str, JsonDict],
                                            queued: list[tuple[str, str, str, str]]) -> None:
    c, _ = start(GarbageCollector, *cached)
    kind, obj = event
    c.informers.get(resource_of(obj)).apply(kind, obj)
    assert recorded(c.queue).added == queued


GADGETS_CRD = {"metadata": {"name": "gadgets.x.io"}, "spec": {
    "group": "x.io", "scope": "Namespaced", "names": {"plural": "gadgets", "kind": "Gadget"},
    "versions": [{"name": "v1", "served": True, "storage": True},
                 {"name": "v1beta1", "served": True, "storage": False}]}}


async def test_a_custom_kind_synced_queues_what_names_it_as_owner() -> None:
    """A dependent of a custom kind was kept while the kind was unresolvable, and its owner
    may have come and gone before the kind's first list: once listed, it is looked at again."""
    gadget = {"apiVersion": "x.io/v1beta1", "kind": "Gadget", "name": "g", "uid": "uid-g"}
    dependent = configmap("owned", "ns", owners=[gadget])
    others = [configmap("free", "ns"), configmap("other", "ns", owners=[ref(RS)])]
    c, client = start(GarbageCollector, dependent, *others)
    await c.sync(item(dependent))
    assert client.writes == []  # unresolvable: kept
    runner = asyncio.create_task(c.custom.run())
    try:
        c.custom.crd_changed(GADGETS_CRD)
        kind = c.custom.for_kind("x.io/v1", "Gadget")
        assert kind is not None
        c.custom_kind_synced(kind)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert recorded(c.queue).added == [item(dependent)]
    await c.sync(item(dependent))
    assert client.writes == [deleted(dependent)]  # the Gadget is not there
