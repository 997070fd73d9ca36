"""Namespace controller: a Terminating namespace is emptied, then its `kubernetes`
finalizer goes through /finalize (Kubernetes' namespace_controller_test.go and
namespaced_resources_deleter_test.go, over our fake client)."""

from __future__ import annotations

import pytest

from minikube_py.api.customresourcedefinition import resources_of
from minikube_py.api.resources import CONFIGMAPS, NAMESPACES, PODS
from minikube_py.client.errors import ApiError, Conflict, NotFound, ServerError
from minikube_py.controllers.namespace import RETRY_SECONDS, NamespaceController
from tests.fixtures.builders import T0, JsonDict, configmap, namespace, pod, service
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import recorded

TERMINATING = namespace("ns", deletion_timestamp=T0)


def controller(ns: JsonDict | None, *contents: JsonDict
               ) -> tuple[NamespaceController, FakeClient]:
    """The namespace controller; `contents` are in the namespace (read live)."""
    return start(NamespaceController, *([ns] if ns else []), live=contents)


@pytest.mark.parametrize(
    "ns",
    [
        pytest.param(None, id="a namespace that is gone is nothing to do"),
        pytest.param(namespace("ns"), id="an active namespace is left alone"),
    ],
)
async def test_only_terminating_namespaces_are_emptied(ns: JsonDict | None) -> None:
    c, client = controller(ns, pod("a", "ns"))
    await c.sync("ns")
    assert client.writes == [] and recorded(c.queue).delayed == []


async def test_contents_are_deleted_then_the_namespace_is_finalized() -> None:
    c, client = controller(TERMINATING, pod("a", "ns"), service("web", "ns"),
                           configmap("other", "elsewhere"))
    await c.sync("ns")
    assert sorted(client.summary()) == [("delete", "pods", "a"), ("delete", "services", "web")]
    # not finalized while they were there
    assert recorded(c.queue).delayed == [("ns", RETRY_SECONDS)]
    client.writes.clear()
    await c.sync("ns")
    assert client.summary() == [("update", "namespaces/finalize", "ns")]
    assert client.writes[0].body["spec"]["finalizers"] == []
    assert client.stored(CONFIGMAPS, "other", "elsewhere") is not None


async def test_terminating_pods_are_waited_for_not_deleted_again() -> None:
    c, client = controller(TERMINATING, pod("a", "ns", deletion_timestamp=T0))
    await c.sync("ns")
    assert client.writes == []
    assert recorded(c.queue).delayed == [("ns", RETRY_SECONDS)]


async def test_finalize_keeps_other_finalizers() -> None:
    ns = namespace("ns", deletion_timestamp=T0)
    ns["spec"]["finalizers"] = ["kubernetes", "example.com/keep"]
    c, client = controller(ns)
    await c.sync("ns")
    assert client.writes[0].body["spec"]["finalizers"] == ["example.com/keep"]


@pytest.mark.parametrize(
    ("verb", "error", "requeued"),
    [
        pytest.param("update", Conflict, True,
                     id="a conflicting finalize is tried again a second later"),
        pytest.param("update", NotFound, False, id="a namespace gone before finalize is done"),
        pytest.param("get", NotFound, False, id="a namespace gone before it is read is done"),
    ],
)
async def test_finalize_races(verb: str, error: type[ApiError], requeued: bool) -> None:
    c, client = controller(TERMINATING)
    client.fail(verb, NAMESPACES, "ns", error=error)
    await c.sync("ns")
    assert client.writes == []
    assert recorded(c.queue).delayed == ([("ns", RETRY_SECONDS)] if requeued else [])


async def test_an_object_deleted_meanwhile_is_not_an_error() -> None:
    c, client = controller(TERMINATING, pod("a", "ns"))
    client.fail("delete", PODS, "a", error=NotFound)
    await c.sync("ns")
    assert recorded(c.queue).delayed == [("ns", RETRY_SECONDS)]


@pytest.mark.parametrize(
    ("verb", "name"),
    [
        pytest.param("delete", "a", id="a failed delete is retried by the queue"),
        pytest.param("list", None, id="a failed list is retried by the queue"),
    ],
)
async def test_server_errors_are_raised(verb: str, name: str | None) -> None:
    c, client = controller(TERMINATING, pod("a", "ns"))
    client.fail(verb, PODS, name)
    with pytest.raises(ServerError):
        await c.sync("ns")
    assert ("update", "namespaces/finalize", "ns") not in client.summary()


def test_only_namespaces_being_deleted_are_queued() -> None:
    c, _ = controller(None)
    c.namespaces.apply("ADDED", namespace("ns"))
    c.namespaces.apply("MODIFIED", namespace("ns", deletion_timestamp=T0, resource_version="2"))
    assert recorded(c.queue).added == ["ns"]


async def test_custom_objects_go_with_their_namespace() -> None:
    """Namespaced custom kinds are found through the CRDs (read live) and emptied too;
    cluster-scoped ones are not namespace contents."""
    def crd(plural: str, scope: str) -> JsonDict:
        return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.example.com"},
                "spec": {"group": "example.com", "scope": scope,
                         "names": {"plural": plural, "kind": plural.title()[:-1]},
                         "versions": [{"name": "v1", "served": True, "storage": True}]}}
    namespaced, cluster = crd("widgets", "Namespaced"), crd("globals", "Cluster")
    (widgets,) = resources_of(namespaced)
    c, client = controller(TERMINATING, namespaced, cluster)
    client.put(widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                         "metadata": {"name": "w", "namespace": "ns"}})
    await c.sync("ns")
    assert client.summary() == [("delete", "widgets", "w")]
    assert recorded(c.queue).delayed == [("ns", RETRY_SECONDS)]
