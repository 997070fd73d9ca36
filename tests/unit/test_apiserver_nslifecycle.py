"""The namespace cache's bookkeeping: a write of our own is known before its watch event,
and an older event never overwrites it."""

from __future__ import annotations

from typing import cast

from minikube_py.api.types import Object
from minikube_py.apiserver.nslifecycle import Namespace, NamespaceLifecycle
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub

LEVEL = "pod-security.kubernetes.io/enforce"


def ns(level: str, rv: int) -> Object:
    return {"metadata": {"name": "team", "resourceVersion": str(rv), "labels": {LEVEL: level}}}


def test_our_write_is_known_at_once_and_an_older_event_does_not_undo_it() -> None:
    cache = NamespaceLifecycle(cast(ObjectStore, None), cast(WatchHub, None))
    cache.known["team"] = Namespace.of(ns("privileged", 5), 5)
    assert cache.labels("team") is None  # not synced: the caller reads etcd
    cache.synced = True
    cache.saw(ns("baseline", 9))
    assert cache.labels("team") == {LEVEL: "baseline"}
    cache._note("team", Namespace.of(ns("privileged", 7), 7))  # a watch event in flight
    assert cache.labels("team") == {LEVEL: "baseline"}
    cache._note("team", Namespace.of(ns("restricted", 11), 11))
    assert cache.labels("team") == {LEVEL: "restricted"}
    deleted = ns("restricted", 12)
    deleted["metadata"]["deletionTimestamp"] = "2026-12-07T12:00:00Z"
    cache.saw(deleted)
    cache._note("team", Namespace.of(ns("restricted", 11), 11))
    assert cache.known["team"].terminating
    assert cache.labels("other") is None
