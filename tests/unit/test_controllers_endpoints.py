"""The endpoints controller: which pod lands where in an Endpoints (the pure
part), and what sync(key) writes for a Service (Kubernetes'
endpoints_controller_test.go cases, over our fake client)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.resources import ENDPOINTS
from minikube_py.client.errors import AlreadyExists, ApiError, Conflict, NotFound
from minikube_py.controllers.endpoints import (
    EndpointsController,
    compute_subsets,
    desired_labels,
    resolve_port,
)
from tests.fixtures import builders
from tests.fixtures.controllers import start
from tests.fixtures.queues import recorded


def pod(name: str, ip: str | None, *, ready: bool = True, port_name: str = "http",
        port: int = 8080, node: str = "n1", **meta: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"namespace": "default", "name": name, "uid": f"uid-{name}", **meta},
            "spec": {"nodeName": node, "containers": [
                {"name": "c", "ports": [{"name": port_name, "containerPort": port}]}]},
            "status": status}


def service(target: Any = "http", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                     "ports": [{"name": "web", "port": 80, "targetPort": target,
                                "protocol": "TCP"}], **spec}}


def ref(name: str, ip: str, node: str = "n1") -> dict[str, Any]:
    return {"ip": ip, "nodeName": node, "targetRef": {
        "kind": "Pod", "namespace": "default", "name": name, "uid": f"uid-{name}"}}


PORTS = [{"name": "web", "port": 8080, "protocol": "TCP"}]


def test_ready_and_not_ready_pods_are_split_and_sorted() -> None:
    pods = [pod("b", "10.244.0.10"), pod("a", "10.244.0.9"), pod("c", "10.244.1.2", ready=False)]
    assert compute_subsets(service(), pods) == [{
        "addresses": [ref("a", "10.244.0.9"), ref("b", "10.244.0.10")],
        "notReadyAddresses": [ref("c", "10.244.1.2")],
        "ports": PORTS}]


def test_named_target_port_resolves_per_pod() -> None:
    pods = [pod("a", "10.244.0.9", port=8080), pod("b", "10.244.0.10", port=9090)]
    subsets = compute_subsets(service(), pods)
    assert [(s["addresses"][0]["ip"], s["ports"][0]["port"]) for s in subsets] == [
        ("10.244.0.9", 8080), ("10.244.0.10", 9090)]


@pytest.mark.parametrize("skipped", [
    pytest.param(pod("x", None), id="no-ip-yet"),
    pytest.param(pod("x", "10.244.0.5", port_name="metrics"), id="no-such-named-port"),
    pytest.param(pod("x", "10.244.0.5", deletionTimestamp="2026-01-01T00:00:00Z"),
                 id="terminating"),
    pytest.param({**pod("x", "10.244.0.5"), "status": {"phase": "Succeeded",
                                                        "podIP": "10.244.0.5"}}, id="finished"),
])
def test_pods_that_cannot_serve_are_left_out(skipped: dict[str, Any]) -> None:
    assert compute_subsets(service(), [skipped]) == []


def test_numeric_target_port_and_publish_not_ready() -> None:
    subsets = compute_subsets(service(target=7000, publishNotReadyAddresses=True),
                              [pod("a", "10.244.0.9", ready=False)])
    assert subsets == [{"addresses": [ref("a", "10.244.0.9")],
                        "ports": [{"name": "web", "port": 7000, "protocol": "TCP"}]}]


def test_missing_target_port_defaults_to_port() -> None:
    assert resolve_port(pod("a", "1.2.3.4"), {"port": 80}) == 80
    assert resolve_port(pod("a", "1.2.3.4"), {"port": 80, "targetPort": "http",
                                              "protocol": "UDP"}) is None


def test_headless_services_get_the_headless_label() -> None:
    assert desired_labels(service(clusterIP="None")) == {
        "app": "web", "service.kubernetes.io/headless": ""}


# -- sync(key) ---------------------------------------------------------------------------

HTTP = [{"name": "http", "containerPort": 8080}]


def serving(name: str, ip: str, *, ready: bool = True, namespace: str = "ns",
            app: str = "web") -> dict[str, Any]:
    return builders.pod(name, namespace, labels={"app": app}, node="n1", ip=ip, ready=ready,
                        ports=HTTP)


def address(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                          "uid": meta["uid"]}}


A, B, C = serving("a", "10.244.0.5"), serving("b", "10.244.1.5"), serving("c", "10.244.0.6",
                                                                          ready=False)
WEB = builders.service("web", "ns", labels={"app": "web"})
SERVED = [{"name": "http", "port": 8080, "protocol": "TCP"}]


async def test_a_service_gets_endpoints_for_the_pods_it_selects() -> None:
    c, client = start(EndpointsController, WEB, C, B, A,
                      serving("other-app", "10.244.0.7", app="db"),
                      serving("other-ns", "10.244.0.8", namespace="elsewhere"))
    await c.sync("ns/web")
    assert client.summary() == [("create", "endpoints", "web")]
    assert client.writes[0].body == {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}},
        "subsets": [{"addresses": [address(A), address(B)], "notReadyAddresses": [address(C)],
                     "ports": SERVED}]}


async def test_a_service_selecting_nothing_gets_empty_endpoints() -> None:
    c, client = start(EndpointsController, WEB)
    await c.sync("ns/web")
    assert client.summary() == [("create", "endpoints", "web")]
    assert client.writes[0].body["subsets"] == []


@pytest.mark.parametrize(
    ("current", "written"),
    [
        pytest.param(builders.endpoints("web", "ns", labels={"app": "web"}, subsets=[
            {"addresses": [address(A)], "ports": SERVED}]), False,
            id="endpoints already right are not written again"),
        pytest.param(builders.endpoints("web", "ns", labels={"app": "web"}, subsets=[]), True,
                     id="endpoints missing a pod are updated"),
        pytest.param(builders.endpoints("web", "ns", subsets=[
            {"addresses": [address(A)], "ports": SERVED}]), True,
            id="endpoints with other labels are updated"),
    ],
)
async def test_existing_endpoints(current: dict[str, Any], written: bool) -> None:
    c, client = start(EndpointsController, WEB, A, current)
    await c.sync("ns/web")
    assert client.summary() == ([("update", "endpoints", "web")] if written else [])
    if written:
        body = client.writes[0].body
        assert body["metadata"]["uid"] == current["metadata"]["uid"]
        assert body["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        assert body["metadata"]["labels"] == {"app": "web"}
        assert body["subsets"] == [{"addresses": [address(A)], "ports": SERVED}]


async def test_endpoints_the_cache_has_not_seen_are_read_and_updated() -> None:
    c, client = start(EndpointsController, WEB, A)
    client.put(ENDPOINTS, builders.endpoints("web", "ns", resource_version="7"))
    await c.sync("ns/web")
    assert client.summary() == [("update", "endpoints", "web")]
    assert client.writes[0].body["metadata"]["resourceVersion"] == "7"


async def test_headless_services_endpoints_say_so() -> None:
    headless = builders.service("web", "ns", cluster_ip="None")
    c, client = start(EndpointsController, headless, A)
    await c.sync("ns/web")
    assert client.writes[0].body["metadata"]["labels"] == {
        "service.kubernetes.io/headless": ""}


@pytest.mark.parametrize(
    ("objs", "failure", "writes"),
    [
        pytest.param([], None, [("delete", "endpoints", "web")],
                     id="a deleted service's endpoints are deleted"),
        pytest.param([], NotFound, [], id="endpoints already gone with their service are fine"),
        pytest.param([builders.service("web", "ns", selector=None), A], None, [],
                     id="endpoints of a service without selector are the user's"),
    ],
)
async def test_endpoints_left_alone_or_removed(objs: list[dict[str, Any]],
                                               failure: type[NotFound] | None,
                                               writes: list[tuple[str, str, str]]) -> None:
    c, client = start(EndpointsController, *objs)
    if failure is not None:
        client.fail("delete", ENDPOINTS, "web", error=failure)
    await c.sync("ns/web")
    assert client.summary() == writes


@pytest.mark.parametrize(
    ("verb", "error"),
    [
        pytest.param("update", Conflict, id="a conflicting update is retried by the queue"),
        pytest.param("get", NotFound,
                     id="endpoints that existed at create and are gone at get are retried"),
    ],
)
async def test_write_races_are_raised(verb: str, error: type[ApiError]) -> None:
    c, client = start(EndpointsController, WEB, A, builders.endpoints("web", "ns"))
    if verb == "get":  # create says it exists, the read after says it does not
        c.endpoints.cache.remove("ns/web")
        client.fail("create", ENDPOINTS, "web", error=AlreadyExists)
    client.fail(verb, ENDPOINTS, "web", error=error)
    with pytest.raises(error):
        await c.sync("ns/web")


def test_hostname_only_for_pods_whose_subdomain_is_the_service() -> None:
    """As Kubernetes: StatefulSet pods get `<hostname>.<service>` DNS names through it."""
    member = pod("web-0", "10.244.0.9")
    member["spec"].update(hostname="web-0", subdomain="web")
    stranger = pod("other-0", "10.244.0.10")
    stranger["spec"].update(hostname="other-0", subdomain="other")
    [subset] = compute_subsets(service(), [member, stranger])
    assert [a.get("hostname") for a in subset["addresses"]] == ["web-0", None]


# -- what informer events queue -------------------------------------------------------------

@pytest.mark.parametrize(
    ("events", "queued"),
    [
        pytest.param([("pods", "ADDED", A)], ["ns/web"],
                     id="a pod the service selects queues the service"),
        pytest.param([("pods", "ADDED", serving("x", "10.244.0.9", app="db"))], [],
                     id="a pod no service selects queues nothing"),
        pytest.param([("pods", "ADDED", serving("x", "10.244.0.9", namespace="elsewhere"))],
                     [], id="a pod in another namespace queues nothing"),
        pytest.param([("pods", "ADDED", A),
                      ("pods", "MODIFIED", builders.pod("a", "ns", labels={"app": "db"},
                                                        resource_version="2"))],
                     ["ns/web", "ns/web"],
                     id="a pod relabelled away queues the service it left"),
        pytest.param([("endpoints", "ADDED", builders.endpoints("web", "ns")),
                      ("endpoints", "DELETED", builders.endpoints("web", "ns"))], ["ns/web"],
                     id="endpoints of a selecting service deleted by someone are put back"),
        pytest.param([("endpoints", "ADDED", builders.endpoints("manual", "ns")),
                      ("endpoints", "DELETED", builders.endpoints("manual", "ns"))], [],
                     id="endpoints without a service are the user's"),
        pytest.param([("services", "DELETED", WEB)], ["ns/web"],
                     id="a deleted service queues its key so its endpoints go"),
    ],
)
def test_events_queue_the_services_concerned(events: list[tuple[str, str, dict[str, Any]]],
                                             queued: list[str]) -> None:
    c, _ = start(EndpointsController, WEB, builders.service("manual", "ns", selector=None))
    for informer, kind, obj in events:
        getattr(c, informer).apply(kind, obj)
    assert recorded(c.queue).added == queued
