"""The endpoints controller's pure part: which pod lands where in an Endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.controllers.endpoints import compute_subsets, desired_labels, resolve_port


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
