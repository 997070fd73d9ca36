"""NodeRestriction against a real api-server, with a real node credential: a node cannot
give itself a podCIDR or restricted labels, and its pod-status writes change no metadata
and report only addresses inside its podCIDR."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from minikube_py.apiserver.noderestriction import restricted_label
from minikube_py.cluster.tokens import new_node_token, node_credentials_secret
from tests.fixtures.apiserver import ApiServer, as_user

SECRETS = "/api/v1/namespaces/kube-system/secrets"


def _node(server: ApiServer) -> tuple[str, str]:
    """A node credential, which authenticates at once."""
    node = f"nr-{uuid.uuid4().hex[:6]}"
    token = new_node_token(node)
    assert server.request("POST", SECRETS, node_credentials_secret(node, token))[0] == 201
    return node, token


def _put(server: ApiServer, token: str, path: str, change: Any) -> tuple[int, Any]:
    status, obj = as_user(server, token, "GET", path)
    assert status == 200, obj
    change(obj)
    return as_user(server, token, "PUT", path, obj)


def test_a_node_cannot_give_itself_a_pod_cidr_or_restricted_labels(apiserver: ApiServer
                                                                   ) -> None:
    node, token = _node(apiserver)
    status, got = as_user(apiserver, token, "POST", "/api/v1/nodes", {
        "metadata": {"name": node}, "spec": {"podCIDR": "10.244.9.0/24"}})
    assert status == 403 and f'node "{node}" is not allowed to set podCIDR' in got["message"]
    status, got = as_user(apiserver, token, "POST", "/api/v1/nodes", {"metadata": {
        "name": node, "labels": {"node-role.kubernetes.io/control-plane": ""}}})
    assert status == 403 and "node-role.kubernetes.io/control-plane" in got["message"]
    assert as_user(apiserver, token, "POST", "/api/v1/nodes", {"metadata": {
        "name": node, "labels": {"kubernetes.io/hostname": node, "team": "a"}}})[0] == 201
    path = f"/api/v1/nodes/{node}"
    status, got = _put(apiserver, token, path,
                       lambda n: n.setdefault("spec", {}).update(podCIDR="10.244.9.0/24"))
    assert status == 403 and "not allowed to modify podCIDR" in got["message"]
    for label in ("node-restriction.kubernetes.io/dedicated", "kubernetes.io/role",
                  "example.k8s.io/x"):
        status, got = _put(apiserver, token, path,
                           lambda n, k=label: n["metadata"]["labels"].update({k: "x"}))
        assert status == 403 and label in got["message"], got
    assert _put(apiserver, token, path, lambda n: n["metadata"]["labels"].update(
        {"team": "b", "topology.kubernetes.io/zone": "z1",
         "node.kubernetes.io/exclude-from-external-load-balancers": ""}))[0] == 200
    # What the node may not do, node IPAM (with the admin's credential here) may.
    node_obj = apiserver.request("GET", path)[1]
    node_obj.setdefault("spec", {})["podCIDR"] = "10.244.9.0/24"
    assert apiserver.request("PUT", path, node_obj)[0] == 200


def test_pod_status_writes_change_no_metadata_and_stay_in_the_pod_cidr(apiserver: ApiServer
                                                                       ) -> None:
    node, token = _node(apiserver)
    assert as_user(apiserver, token, "POST", "/api/v1/nodes", {"metadata": {"name": node}}
                   )[0] == 201
    node_obj = apiserver.request("GET", f"/api/v1/nodes/{node}")[1]
    node_obj.setdefault("spec", {})["podCIDR"] = "10.244.77.0/24"
    assert apiserver.request("PUT", f"/api/v1/nodes/{node}", node_obj)[0] == 200
    pod = f"nr-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces/default/pods", {
        "metadata": {"name": pod, "labels": {"app": "web"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}
    )[0] == 201
    path = f"/api/v1/namespaces/default/pods/{pod}/status"

    def relabel_and_run(p: dict[str, Any]) -> None:
        p["metadata"]["labels"] = {"app": "stolen"}
        p["metadata"]["annotations"] = {"x": "y"}
        p["status"] = {"phase": "Running", "podIP": "10.244.77.5",
                       "podIPs": [{"ip": "10.244.77.5"}]}
    status, got = _put(apiserver, token, path, relabel_and_run)
    assert status == 200, got
    stored = apiserver.request("GET", f"/api/v1/namespaces/default/pods/{pod}")[1]
    assert stored["metadata"]["labels"] == {"app": "web"}
    assert "x" not in (stored["metadata"].get("annotations") or {})
    assert stored["status"]["podIP"] == "10.244.77.5"
    # Checked against the node graph's podCIDR: a status write reads the pod, not the Node.
    gets = 'etcd_request_duration_seconds_count{operation="get"}'
    before, pod_obj = apiserver.metric(gets), as_user(apiserver, token, "GET", path)[1]
    for _ in range(10):
        status, pod_obj = as_user(apiserver, token, "PUT", path, pod_obj)
        assert status == 200, pod_obj
    assert apiserver.metric(gets) - before <= 10 + 2
    status, got = _put(apiserver, token, path, lambda p: p["status"].update(
        podIP="10.96.0.1", podIPs=[{"ip": "10.96.0.1"}]))
    assert status == 403 and "inside its podCIDR" in got["message"]


@pytest.mark.parametrize(("key", "restricted"), [
    ("kubernetes.io/hostname", False), ("topology.kubernetes.io/zone", False),
    ("node.kubernetes.io/instance-type", False), ("kubelet.kubernetes.io/x", False),
    ("team", False), ("example.com/x", False),
    ("node-restriction.kubernetes.io/dedicated", True),
    ("node-role.kubernetes.io/control-plane", True), ("kubernetes.io/role", True),
    ("k8s.io/x", True), ("foo.k8s.io/x", True),
])
def test_restricted_labels(key: str, restricted: bool) -> None:
    assert restricted_label(key) is restricted
