"""What the web view sends of each object: the fields the page shows, nothing else."""

from __future__ import annotations

from minikube_py.ui import views
from tests.fixtures import builders


def test_pod_view_counts_ready_restarts_and_names_the_waiting_reason() -> None:
    pod = builders.pod("web-1", "shop", node="n1", ip="10.244.1.5", ready=True, restarts=2,
                       owners=[{"kind": "ReplicaSet", "name": "web-abc",
                                         "controller": True, "uid": "u", "apiVersion": "v1"}])
    pod["status"]["containerStatuses"].append({"name": "side", "ready": False,
                                                "restartCount": 1,
                                                "state": {"waiting": {"reason": "CrashLoopBackOff"}}})
    pod["spec"]["containers"].append({"name": "side", "image": "x"})
    view = views.pod(pod)
    assert (view["name"], view["namespace"], view["node"], view["ip"]) == (
        "web-1", "shop", "n1", "10.244.1.5")
    assert (view["ready"], view["total"], view["restarts"]) == (1, 2, 3)
    assert (view["reason"], view["owner"]) == ("CrashLoopBackOff", "ReplicaSet/web-abc")
    assert "spec" not in view and "status" not in view


def test_node_view_has_the_overlay_facts() -> None:
    node = builders.node("n1")
    node["spec"]["podCIDR"] = "10.244.1.0/24"
    node["status"]["addresses"] = [{"type": "InternalIP", "address": "192.168.77.11"}]
    node["metadata"]["annotations"] = {"minikube-py.io/vtep-mac": "0e:58:0a:f4:01:00"}
    view = views.node(node)
    assert (view["ready"], view["podCIDR"], view["underlay"], view["vtepMac"]) == (
        True, "10.244.1.0/24", "192.168.77.11", "0e:58:0a:f4:01:00")


def test_service_slice_and_event_views() -> None:
    svc = {"metadata": {"name": "web", "namespace": "shop"},
           "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.7",
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "192.168.77.200"}]}}}
    assert views.service(svc)["loadBalancer"] == ["192.168.77.200"]
    assert views.service(svc)["ports"][0]["nodePort"] == 30080
    eps = {"metadata": {"name": "web", "namespace": "shop"}, "subsets": [{
        "addresses": [{"ip": "10.244.2.7", "nodeName": "n2", "targetRef": {"name": "web-2"}}],
        "notReadyAddresses": [{"ip": "10.244.1.5", "nodeName": "n1",
                               "targetRef": {"name": "web-1"}}]}]}
    assert views.endpoints(eps)["endpoints"] == [
        {"ip": "10.244.2.7", "ready": True, "node": "n2", "pod": "web-2"},
        {"ip": "10.244.1.5", "ready": False, "node": "n1", "pod": "web-1"}]
    event = {"metadata": {"name": "e", "namespace": "shop"}, "type": "Warning",
             "reason": "BackOff", "message": "restarting", "count": 3,
             "involvedObject": {"kind": "Pod", "name": "web-1"},
             "lastTimestamp": "2026-12-07T06:00:00Z"}
    assert views.event(event)["object"] == "Pod/web-1"


def test_metrics_sum_containers_like_kubectl_top() -> None:
    pods = [{"metadata": {"name": "web-1", "namespace": "shop"},
             "containers": [{"usage": {"cpu": "150m", "memory": "10Mi"}},
                            {"usage": {"cpu": "1", "memory": "2Mi"}}]}]
    nodes = [{"metadata": {"name": "n1"}, "usage": {"cpu": "250m", "memory": "1Gi"}}]
    assert views.metrics(pods) == {"shop/web-1": {"cpu": "1150m", "memory": "12Mi"}}
    assert views.metrics(nodes) == {"n1": {"cpu": "250m", "memory": "1Gi"}}
