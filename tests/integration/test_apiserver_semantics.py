"""Kubernetes semantics beyond CRUD: deletion, subresources, allocation, Tables, metrics."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import builders
from tests.fixtures.apiserver import ApiServer

NS = "/api/v1/namespaces/default"
POD_SPEC = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def uid() -> str:
    return uuid.uuid4().hex[:6]


def make_pod(server: ApiServer, node: str | None = None,
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: builders.Meta = {} if labels is None else {"labels": labels}
    body = builders.pod(f"p-{uid()}", node=node, containers=POD_SPEC["containers"], **meta)
    status, pod = server.request("POST", f"{NS}/pods", body)
    assert status == 201, pod
    assert isinstance(pod, dict)
    return pod


def get(server: ApiServer, path: str) -> tuple[int, dict[str, Any]]:
    status, body = server.request("GET", path)
    assert isinstance(body, dict)
    return status, body


# -- deletion ------------------------------------------------------------------------------

def test_bound_pod_gets_graceful_deletion_and_kubelet_finishes(apiserver: ApiServer) -> None:
    pod = make_pod(apiserver, node="n1")
    path = f"{NS}/pods/{pod['metadata']['name']}"
    status, marked = apiserver.request("DELETE", path + "?gracePeriodSeconds=20")
    assert status == 200 and isinstance(marked, dict)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 20
    assert marked["metadata"]["deletionTimestamp"].endswith("Z")
    assert get(apiserver, path)[0] == 200
    assert apiserver.request("DELETE", path, {"gracePeriodSeconds": 0})[0] == 200
    assert get(apiserver, path)[0] == 404


def test_unbound_pod_is_deleted_at_once(apiserver: ApiServer) -> None:
    pod = make_pod(apiserver)
    path = f"{NS}/pods/{pod['metadata']['name']}"
    assert apiserver.request("DELETE", path)[0] == 200
    assert get(apiserver, path)[0] == 404


def test_finalizers_keep_object_until_removed(apiserver: ApiServer) -> None:
    name = f"fin-{uid()}"
    apiserver.request("POST", f"{NS}/configmaps",
                      {"metadata": {"name": name, "finalizers": ["example.com/hold"]}})
    path = f"{NS}/configmaps/{name}"
    status, marked = apiserver.request("DELETE", path)
    assert status == 200 and isinstance(marked, dict) and marked["metadata"]["deletionTimestamp"]
    status, held = get(apiserver, path)
    assert status == 200 and held["metadata"]["finalizers"] == ["example.com/hold"]
    status, _ = apiserver.request("PATCH", path, {"metadata": {"finalizers": None}},
                                  content_type="application/merge-patch+json")
    assert status == 200
    assert get(apiserver, path)[0] == 404


@pytest.mark.parametrize("policy,finalizer", [("Foreground", "foregroundDeletion"),
                                              ("Orphan", "orphan")])
def test_propagation_policy_is_recorded_as_finalizer(apiserver: ApiServer, policy: str,
                                                     finalizer: str) -> None:
    name = f"rs-{uid()}"
    rs = {"metadata": {"name": name}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"a": name}},
        "template": {"metadata": {"labels": {"a": name}}, "spec": POD_SPEC}}}
    path = "/apis/apps/v1/namespaces/default/replicasets"
    assert apiserver.request("POST", path, rs)[0] == 201
    status, marked = apiserver.request("DELETE", f"{path}/{name}",
                                       {"propagationPolicy": policy})
    assert status == 200 and isinstance(marked, dict)
    assert finalizer in marked["metadata"]["finalizers"]
    assert marked["metadata"]["deletionTimestamp"]


def test_delete_collection_by_label(apiserver: ApiServer) -> None:
    tag = uid()
    for i in range(3):
        apiserver.request("POST", f"{NS}/configmaps",
                          {"metadata": {"name": f"dc{i}-{tag}", "labels": {"dc": tag}}})
    apiserver.request("POST", f"{NS}/configmaps", {"metadata": {"name": f"keep-{tag}"}})
    status, _ = apiserver.request("DELETE", f"{NS}/configmaps?labelSelector=dc%3D{tag}")
    assert status == 200
    _, listed = get(apiserver, f"{NS}/configmaps")
    names = {i["metadata"]["name"] for i in listed["items"]}
    assert f"keep-{tag}" in names and not any(n.startswith("dc") and tag in n for n in names)


def test_delete_precondition_uid(apiserver: ApiServer) -> None:
    name = f"pre-{uid()}"
    apiserver.request("POST", f"{NS}/configmaps", {"metadata": {"name": name}})
    status, err = apiserver.request("DELETE", f"{NS}/configmaps/{name}",
                                    {"preconditions": {"uid": "not-it"}})
    assert status == 409 and isinstance(err, dict) and "Precondition failed" in err["message"]


# -- subresources --------------------------------------------------------------------------

def test_status_write_ignores_spec_and_normal_write_ignores_status(apiserver: ApiServer
                                                                   ) -> None:
    pod = make_pod(apiserver)
    path = f"{NS}/pods/{pod['metadata']['name']}"
    pod["status"] = {"phase": "Running"}
    pod["spec"]["activeDeadlineSeconds"] = 5
    status, after = apiserver.request("PUT", path + "/status", pod)
    assert status == 200 and isinstance(after, dict)
    assert after["status"]["phase"] == "Running" and "activeDeadlineSeconds" not in after["spec"]
    after["status"]["phase"] = "Failed"
    after["metadata"]["labels"] = {"x": "y"}
    status, again = apiserver.request("PUT", path, after)
    assert status == 200 and isinstance(again, dict)
    assert again["status"]["phase"] == "Running" and again["metadata"]["labels"] == {"x": "y"}


def test_binding_sets_node_once(apiserver: ApiServer) -> None:
    pod = make_pod(apiserver)
    name = pod["metadata"]["name"]
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    assert apiserver.request("POST", f"{NS}/pods/{name}/binding", binding)[0] == 201
    assert get(apiserver, f"{NS}/pods/{name}")[1]["spec"]["nodeName"] == "node-a"
    status, err = apiserver.request("POST", f"{NS}/pods/{name}/binding", binding)
    assert status == 409 and isinstance(err, dict) and "already assigned" in err["message"]


DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/default/deployments"


def create_deployment(apiserver: ApiServer) -> str:
    """A Deployment of 1 replica selecting a=<its name>, created: its name."""
    name = f"d-{uid()}"
    dep = {"metadata": {"name": name}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"a": name}},
        "template": {"metadata": {"labels": {"a": name}}, "spec": POD_SPEC}}}
    assert apiserver.request("POST", DEPLOYMENTS_PATH, dep)[0] == 201
    return name


def test_scale_subresource(apiserver: ApiServer) -> None:
    path = DEPLOYMENTS_PATH
    name = create_deployment(apiserver)
    status, scale = get(apiserver, f"{path}/{name}/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    assert scale["status"]["selector"] == f"a={name}"
    scale["spec"]["replicas"] = 4
    status, scaled = apiserver.request("PUT", f"{path}/{name}/scale", scale)
    assert status == 200 and isinstance(scaled, dict) and scaled["spec"]["replicas"] == 4
    status, _ = apiserver.request("PATCH", f"{path}/{name}/scale", {"spec": {"replicas": 2}},
                                  content_type="application/merge-patch+json")
    assert status == 200
    _, stored = get(apiserver, f"{path}/{name}")
    assert stored["spec"]["replicas"] == 2 and stored["metadata"]["generation"] == 3
    assert apiserver.request("PUT", f"{path}/{name}/scale", scale)[0] == 409  # stale
    bad = {**scale, "spec": {"replicas": -1}, "metadata": {"name": name}}
    assert apiserver.request("PUT", f"{path}/{name}/scale", bad)[0] == 422


def test_hpa_through_kubectl(apiserver: ApiServer, tmp_path: Path) -> None:
    """An autoscaling/v2 HorizontalPodAutoscaler made with kubectl gets its defaults and
    is watched, `kubectl get hpa` (short name) shows kubectl's columns, `kubectl describe
    hpa` its reference, metrics and bounds, and a bad one is a 422 naming the field."""
    name = create_deployment(apiserver)
    manifest = tmp_path / "hpa.json"
    manifest.write_text(json.dumps({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": name}, "minReplicas": 2, "maxReplicas": 4}}))
    made = apiserver.kubectl(tmp_path, "create", "-f", str(manifest))
    assert made.returncode == 0, made.stderr
    status, hpa = get(apiserver, f"/apis/autoscaling/v2/namespaces/default/"
                                 f"horizontalpodautoscalers/{name}")
    assert status == 200 and hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    status, events = apiserver.request(
        "GET", f"/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers?watch=1"
               f"&resourceVersion=0&timeoutSeconds=1&fieldSelector=metadata.name={name}")
    assert status == 200 and isinstance(events, dict), events  # one event: one JSON line
    assert events["type"] == "ADDED" and events["object"]["kind"] == "HorizontalPodAutoscaler"
    shown = apiserver.kubectl(tmp_path, "get", "hpa", name)
    assert shown.returncode == 0, shown.stderr
    header, row = (line.split() for line in shown.stdout.splitlines())
    assert header == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row[:6] == [name, f"Deployment/{name}", "cpu:", "<unknown>/80%", "2", "4"]
    described = apiserver.kubectl(tmp_path, "describe", "hpa", name)
    assert described.returncode == 0, described.stderr
    fields = {k.strip(): v.strip() for k, _, v in (
        line.partition(":  ") for line in described.stdout.splitlines())}
    assert fields["Reference"] == f"Deployment/{name}", described.stdout
    assert fields["resource cpu on pods  (as a percentage of request)"] == "<unknown> / 80%"
    assert (fields["Min replicas"], fields["Max replicas"]) == ("2", "4")
    bad = {"metadata": {"name": f"bad-{uid()}"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": name}, "maxReplicas": 0}}
    status, err = apiserver.request(
        "POST", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", bad)
    assert status == 422 and isinstance(err, dict), err
    assert {c["field"] for c in err["details"]["causes"]} == {"spec.maxReplicas"}
    assert "must be greater than 0" in err["message"]
    assert apiserver.kubectl(tmp_path, "delete", "hpa", name).returncode == 0


HPA_V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
HPA_V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"


def test_kubectl_autoscale_writes_autoscaling_v1_read_through_both_versions(
        apiserver: ApiServer, tmp_path: Path) -> None:
    """kubectl (<= 1.32) autoscales through autoscaling/v1; the HPA is the same object
    through v2 (CPU target as a metric), and what v2 says beyond v1 survives a v1
    read-modify-write in Kubernetes' annotations; a v1 watch sees v1 objects."""
    name = create_deployment(apiserver)
    made = apiserver.kubectl(tmp_path, "autoscale", "deployment", name, "--cpu-percent=50",
                             "--min=2", "--max=4")
    assert made.returncode == 0, made.stderr
    status, v1 = get(apiserver, f"{HPA_V1}/{name}")
    assert status == 200 and v1["apiVersion"] == "autoscaling/v1", v1
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    status, v2 = get(apiserver, f"{HPA_V2}/{name}")
    assert status == 200 and v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 50}}}]
    assert "annotations" not in v2["metadata"]
    row = apiserver.kubectl(tmp_path, "get", "hpa", name, "--no-headers").stdout.split()
    assert row[1:6] == [f"Deployment/{name}", "cpu:", "<unknown>/50%", "2", "4"], row

    memory = {"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "100Mi"}}}
    v2["spec"]["metrics"].append(memory)
    v2["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    status, v2 = apiserver.request("PUT", f"{HPA_V2}/{name}", v2)
    assert status == 200, v2
    status, v1 = get(apiserver, f"{HPA_V1}/{name}")
    annotations = v1["metadata"]["annotations"]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/behavior"])[
        "ScaleDown"]["StabilizationWindowSeconds"] == 60
    v1["spec"]["maxReplicas"] = 6
    status, v1 = apiserver.request("PUT", f"{HPA_V1}/{name}", v1)
    assert status == 200 and v1["apiVersion"] == "autoscaling/v1", v1
    status, v2 = get(apiserver, f"{HPA_V2}/{name}")
    assert v2["spec"]["maxReplicas"] == 6 and memory in v2["spec"]["metrics"]
    assert v2["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60

    status, event = apiserver.request(
        "GET", f"{HPA_V1}?watch=1&resourceVersion=0&timeoutSeconds=1"
               f"&fieldSelector=metadata.name={name}")
    assert status == 200 and isinstance(event, dict), event
    assert event["object"]["apiVersion"] == "autoscaling/v1"
    assert event["object"]["spec"]["targetCPUUtilizationPercentage"] == 50
    bad = {"metadata": {"name": f"bad-{uid()}"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": name}, "maxReplicas": 2,
        "targetCPUUtilizationPercentage": 0}}
    status, err = apiserver.request("POST", HPA_V1, bad)
    assert status == 422 and isinstance(err, dict), err
    assert [c["field"] for c in err["details"]["causes"]] == [
        "spec.metrics[0].resource.target.averageUtilization"]
    assert apiserver.kubectl(tmp_path, "delete", "hpa", name).returncode == 0


async def test_concurrent_scale_writes_without_a_resource_version_all_succeed(
        apiserver: ApiServer) -> None:
    """As kube-apiserver's GuaranteedUpdate: a scale PATCH or PUT that pins no
    resourceVersion is retried when the object moves under it, never a 409 (found when a
    client scaled a Deployment its controller was still writing)."""
    path = DEPLOYMENTS_PATH
    name = create_deployment(apiserver)
    async with apiserver.session() as s:
        async def write(i: int) -> int:
            if i % 2:
                async with s.patch(f"{path}/{name}/scale", data=json.dumps(
                        {"spec": {"replicas": i}}),
                        headers={"Content-Type": "application/merge-patch+json"}) as r:
                    return r.status
            async with s.put(f"{path}/{name}/scale", json={
                    "kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {"replicas": i}}) as r:
                return r.status
        # 2..13: each differs from every other and from the 1 it starts with, so every
        # write, in whatever order the server takes them, is a change (a new generation).
        statuses = await asyncio.gather(*(write(i) for i in range(2, 14)))
    assert statuses == [200] * 12
    _, stored = get(apiserver, f"{path}/{name}")
    assert stored["metadata"]["generation"] == 13


# -- allocation ----------------------------------------------------------------------------

def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}], **spec}}


def test_cluster_ip_allocation_and_release(apiserver: ApiServer) -> None:
    a, b = f"s-{uid()}", f"s-{uid()}"
    status, svc = apiserver.request("POST", f"{NS}/services", _service(a, clusterIP="10.96.7.7"))
    assert status == 201 and isinstance(svc, dict) and svc["spec"]["clusterIPs"] == ["10.96.7.7"]
    status, err = apiserver.request("POST", f"{NS}/services", _service(b, clusterIP="10.96.7.7"))
    assert status == 422 and isinstance(err, dict) and "already allocated" in err["message"]
    status, err = apiserver.request("POST", f"{NS}/services", _service(b, clusterIP="10.1.1.1"))
    assert status == 422
    assert apiserver.request("DELETE", f"{NS}/services/{a}")[0] == 200
    assert apiserver.request("POST", f"{NS}/services",
                             _service(b, clusterIP="10.96.7.7"))[0] == 201
    status, headless = apiserver.request("POST", f"{NS}/services",
                                         _service(f"h-{uid()}", clusterIP="None"))
    assert status == 201 and isinstance(headless, dict)
    assert headless["spec"]["clusterIP"] == "None"


async def test_concurrent_creates_never_share_an_ip_or_port(apiserver: ApiServer) -> None:
    import asyncio
    async with apiserver.session() as s:
        async def one(i: int) -> dict[str, Any]:
            body = _service(f"c{i}-{uid()}", type="NodePort")
            async with s.post(f"{NS}/services", json=body) as r:
                assert r.status == 201, await r.text()
                return dict(await r.json())
        made = await asyncio.gather(*(one(i) for i in range(30)))
    ips = [m["spec"]["clusterIP"] for m in made]
    ports = [m["spec"]["ports"][0]["nodePort"] for m in made]
    assert len(set(ips)) == 30 and len(set(ports)) == 30
    assert all(30000 <= p <= 32767 for p in ports)


def test_node_port_requested_taken_and_released(apiserver: ApiServer) -> None:
    a, b = f"np-{uid()}", f"np-{uid()}"
    spec = {"type": "NodePort", "ports": [{"port": 80, "nodePort": 31999}]}
    assert apiserver.request("POST", f"{NS}/services", _service(a, **spec))[0] == 201
    status, err = apiserver.request("POST", f"{NS}/services", _service(b, **spec))
    assert status == 422 and isinstance(err, dict) and "already allocated" in err["message"]
    # Switching to ClusterIP gives the port back.
    to_cluster_ip = {"spec": {"type": "ClusterIP", "externalTrafficPolicy": None,
                              "ports": [{"port": 80}]}}
    status, body = apiserver.request("PATCH", f"{NS}/services/{a}", to_cluster_ip,
                                     content_type="application/merge-patch+json")
    assert status == 200, body
    assert apiserver.request("POST", f"{NS}/services", _service(b, **spec))[0] == 201


def test_type_change_to_cluster_ip_drops_node_ports(apiserver: ApiServer) -> None:
    """`kubectl patch svc -p '{"spec":{"type":"ClusterIP"}}'` works as on Kubernetes: the
    nodePorts and externalTrafficPolicy only NodePort carries go, and the port is freed."""
    a, b = f"np-{uid()}", f"np-{uid()}"
    spec = {"type": "NodePort", "ports": [{"port": 80, "nodePort": 31998}]}
    assert apiserver.request("POST", f"{NS}/services", _service(a, **spec))[0] == 201
    status, body = apiserver.request("PATCH", f"{NS}/services/{a}", {"spec": {"type": "ClusterIP"}},
                                     content_type="application/strategic-merge-patch+json")
    assert status == 200, body
    assert isinstance(body, dict)
    assert "nodePort" not in body["spec"]["ports"][0]
    assert "externalTrafficPolicy" not in body["spec"]
    assert apiserver.request("POST", f"{NS}/services", _service(b, **spec))[0] == 201


def test_local_load_balancer_gets_a_health_check_node_port(apiserver: ApiServer) -> None:
    """kube-apiserver's allocation: a LoadBalancer with externalTrafficPolicy Local holds a
    healthCheckNodePort (kept over updates that omit it), given back when it turns Cluster."""
    a, b = f"hc-{uid()}", f"hc-{uid()}"
    spec = {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}
    status, body = apiserver.request("POST", f"{NS}/services", _service(a, **spec))
    assert status == 201, body
    assert isinstance(body, dict)
    port = body["spec"]["healthCheckNodePort"]
    assert 30000 <= port <= 32767 and port != body["spec"]["ports"][0]["nodePort"]
    status, body = apiserver.request("PUT", f"{NS}/services/{a}", {**body, "spec": {
        k: v for k, v in body["spec"].items() if k != "healthCheckNodePort"}})
    assert status == 200 and isinstance(body, dict), body
    assert body["spec"]["healthCheckNodePort"] == port
    taken = _service(b, **spec, healthCheckNodePort=port)
    status, err = apiserver.request("POST", f"{NS}/services", taken)
    assert status == 422 and isinstance(err, dict) and "already allocated" in err["message"]
    status, body = apiserver.request("PATCH", f"{NS}/services/{a}",
                                     {"spec": {"externalTrafficPolicy": "Cluster"}},
                                     content_type="application/merge-patch+json")
    assert status == 200 and isinstance(body, dict), body
    assert "healthCheckNodePort" not in body["spec"]
    assert apiserver.request("POST", f"{NS}/services", taken)[0] == 201


def test_kubernetes_service_and_endpoints(apiserver: ApiServer) -> None:
    _, svc = get(apiserver, f"{NS}/services/kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443
    _, ep = get(apiserver, f"{NS}/endpoints/kubernetes")
    assert ep["subsets"][0]["ports"][0]["port"] == apiserver.port
    _, nss = get(apiserver, "/api/v1/namespaces")
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {
        n["metadata"]["name"] for n in nss["items"]}


# -- presentation --------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_table_output(apiserver: ApiServer, version: str) -> None:
    import urllib.request
    make_pod(apiserver, labels={"tbl": "1"})
    req = urllib.request.Request(
        f"{apiserver.url}{NS}/pods?labelSelector=tbl%3D1",
        headers={"Authorization": f"Bearer {apiserver.token}",
                 "Accept": f"application/json;as=Table;v={version};g=meta.k8s.io"})
    with urllib.request.urlopen(req, context=apiserver.ssl_context()) as r:
        table = json.loads(r.read())
    assert table["kind"] == "Table" and table["apiVersion"] == f"meta.k8s.io/{version}"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:2] == ["Name", "Ready"]
    row = table["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["labels"] == {"tbl": "1"}
    assert len(row["cells"]) == len(names)


async def test_watch_as_table(apiserver: ApiServer) -> None:
    pod = make_pod(apiserver, labels={"tw": uid()})
    label = pod["metadata"]["labels"]["tw"]
    async with apiserver.session() as s, s.get(
            f"{NS}/pods", params={"watch": "1", "labelSelector": f"tw={label}"},
            headers={"Accept": TABLE}) as r:
        event = json.loads(await r.content.readline())
    assert event["type"] == "ADDED" and event["object"]["kind"] == "Table"
    assert event["object"]["rows"][0]["cells"][0] == pod["metadata"]["name"]


def test_metrics_count_requests_and_etcd_latency(apiserver: ApiServer) -> None:
    apiserver.request("GET", f"{NS}/configmaps")
    status, text = apiserver.request("GET", "/metrics")
    assert status == 200 and isinstance(text, str)
    assert 'apiserver_request_total{verb="LIST",resource="configmaps",code="200"}' in text
    assert "apiserver_request_duration_seconds_bucket{" in text
    assert 'etcd_request_duration_seconds_count{operation="list"}' in text


def test_discovery_and_openapi(apiserver: ApiServer) -> None:
    _, v1 = get(apiserver, "/api/v1")
    pods = next(r for r in v1["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["namespaced"]
    _, apps = get(apiserver, "/apis/apps/v1")
    assert "deployments/scale" in [r["name"] for r in apps["resources"]]
    _, groups = get(apiserver, "/apis")
    assert {"apps", "coordination.k8s.io"} <= {g["name"] for g in groups["groups"]}
    assert apiserver.request("GET", "/openapi/v2")[0] == 200


# -- selectors -----------------------------------------------------------------------------

@pytest.mark.parametrize("query,expected", [
    ("labelSelector=tier%3Dfront", {"a", "b"}),
    ("labelSelector=tier%20in%20(front,back)", {"a", "b", "c"}),
    ("labelSelector=tier!%3Dfront", {"c", "d"}),
    ("labelSelector=tier", {"a", "b", "c"}),
    ("labelSelector=!tier", {"d"}),
    ("fieldSelector=spec.nodeName%3Dn-sel", {"b", "c"}),
    ("fieldSelector=spec.nodeName%3D", {"a", "d"}),
    ("fieldSelector=status.phase%3DRunning", {"c"}),
    ("fieldSelector=metadata.name%3Dsel-a", {"a"}),
    ("labelSelector=tier%3Dfront&fieldSelector=spec.nodeName%3Dn-sel", {"b"}),
])
def test_list_selectors(apiserver: ApiServer, query: str, expected: set[str]) -> None:
    pods = {"a": ({"tier": "front"}, None), "b": ({"tier": "front"}, "n-sel"),
            "c": ({"tier": "back"}, "n-sel"), "d": ({}, None)}
    ns = "sel-" + uuid.uuid5(uuid.NAMESPACE_DNS, "selectors").hex[:6]
    if apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201:
        for name, (labels, node) in pods.items():
            spec = {**POD_SPEC, **({"nodeName": node} if node else {})}
            created = apiserver.request("POST", f"/api/v1/namespaces/{ns}/pods", {
                "metadata": {"name": f"sel-{name}", "labels": labels}, "spec": spec})[1]
            if name == "c":
                assert isinstance(created, dict)
                created["status"] = {"phase": "Running"}
                assert apiserver.request("PUT", f"/api/v1/namespaces/{ns}/pods/sel-c/status",
                                         created)[0] == 200
    status, listed = get(apiserver, f"/api/v1/namespaces/{ns}/pods?{query}")
    assert status == 200, listed
    assert {i["metadata"]["name"].removeprefix("sel-") for i in listed["items"]} == expected


def test_events_expire_after_event_ttl(apiserver_factory: Any) -> None:
    import time
    server = apiserver_factory(event_ttl=2)
    path = "/api/v1/namespaces/default/events"
    event = {"metadata": {"name": "ev"}, "reason": "R", "message": "m", "type": "Normal",
             "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}}
    status, created = server.request("POST", path, event)
    assert status == 201 and isinstance(created, dict)
    created["count"] = 2
    assert server.request("PUT", f"{path}/ev", created)[0] == 200  # a write keeps the TTL
    assert server.request("POST", f"{NS}/configmaps", {"metadata": {"name": "stays"}})[0] == 201
    deadline = time.monotonic() + 20
    while server.request("GET", f"{path}/ev")[0] == 200:
        assert time.monotonic() < deadline, "event never expired"
        time.sleep(0.5)
    assert server.request("GET", f"{NS}/configmaps/stays")[0] == 200


def test_dry_run_changes_nothing(apiserver: ApiServer) -> None:
    name = f"dry-{uid()}"
    path = f"{NS}/configmaps"
    status, would = apiserver.request("POST", f"{path}?dryRun=All",
                                      {"metadata": {"name": name}, "data": {"a": "1"}})
    assert status == 201 and isinstance(would, dict) and would["data"] == {"a": "1"}
    assert get(apiserver, f"{path}/{name}")[0] == 404
    _, real = apiserver.request("POST", path, {"metadata": {"name": name}, "data": {"a": "1"}})
    assert isinstance(real, dict)
    status, patched = apiserver.request("PATCH", f"{path}/{name}?dryRun=All",
                                        {"data": {"a": "2"}},
                                        content_type="application/merge-patch+json")
    assert status == 200 and isinstance(patched, dict) and patched["data"] == {"a": "2"}
    assert apiserver.request("DELETE", f"{path}/{name}?dryRun=All")[0] == 200
    _, after = get(apiserver, f"{path}/{name}")
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == real["metadata"]["resourceVersion"]
    assert apiserver.request("POST", f"{path}?dryRun=Maybe",
                             {"metadata": {"name": name + "x"}})[0] == 400


def test_eviction_deletes_gracefully(apiserver: ApiServer) -> None:
    pod = make_pod(apiserver, node="n-evict")
    name = pod["metadata"]["name"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": "default"},
                "deleteOptions": {"gracePeriodSeconds": 15}}
    status, _ = apiserver.request("POST", f"{NS}/pods/{name}/eviction", eviction)
    assert status == 201
    _, evicted = get(apiserver, f"{NS}/pods/{name}")
    assert evicted["metadata"]["deletionGracePeriodSeconds"] == 15
    _, v1 = get(apiserver, "/api/v1")
    assert "pods/eviction" in [r["name"] for r in v1["resources"]]


async def test_delete_is_not_refused_by_concurrent_writes(apiserver: ApiServer) -> None:
    import asyncio
    name = f"race-{uid()}"
    path = f"{NS}/configmaps/{name}"
    apiserver.request("POST", f"{NS}/configmaps", {"metadata": {"name": name}})
    stop = asyncio.Event()
    async with apiserver.session() as s:
        async def writer(i: int) -> None:
            while not stop.is_set():
                async with s.patch(path, json={"metadata": {"annotations": {"w": str(i)}}},
                                   headers={"Content-Type": "application/merge-patch+json"}
                                   ) as r:
                    if r.status == 404:
                        return
        writers = [asyncio.create_task(writer(i)) for i in range(8)]
        await asyncio.sleep(0.3)
        async with s.delete(path) as r:
            status, body = r.status, await r.text()
        stop.set()
        await asyncio.gather(*writers)
    assert status == 200, body


def _partial(kind: str) -> str:
    return f"application/json;as={kind};g=meta.k8s.io;v=v1"


async def test_metadata_only_views(apiserver: ApiServer) -> None:
    """as=PartialObjectMetadata for an object, a write and watch events,
    as=PartialObjectMetadataList for a list (client-go's metadata client asks so, JSON
    fallback included); a view the request cannot give, with no fallback, is a 406."""
    pod = make_pod(apiserver, labels={"pm": uid()})
    name, label = pod["metadata"]["name"], pod["metadata"]["labels"]["pm"]
    with_fallback = {"Accept": _partial("PartialObjectMetadata") + ",application/json"}
    async with apiserver.session() as s:
        async with s.get(f"{NS}/pods/{name}", headers=with_fallback) as r:
            got = await r.json()
        assert got == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": pod["metadata"]}
        async with s.get(f"{NS}/pods", params={"labelSelector": f"pm={label}"},
                         headers={"Accept": _partial("PartialObjectMetadataList")}) as r:
            listed = await r.json()
        assert listed["kind"] == "PartialObjectMetadataList"
        assert listed["metadata"]["resourceVersion"]
        assert [i["metadata"]["name"] for i in listed["items"]] == [name]
        assert listed["items"][0]["kind"] == "PartialObjectMetadata"
        assert "spec" not in listed["items"][0]
        async with s.get(f"{NS}/pods", params={"labelSelector": f"pm={label}"},
                         headers=with_fallback) as r:
            assert (await r.json())["kind"] == "PodList"  # not a list's view: plain JSON
        async with s.get(f"{NS}/pods", headers={"Accept": _partial("PartialObjectMetadata")}
                         ) as r:
            assert r.status == 406 and (await r.json())["reason"] == "NotAcceptable"
        async with s.patch(f"{NS}/pods/{name}", json={"metadata": {"labels": {"x": "1"}}},
                           headers={**with_fallback,
                                    "Content-Type": "application/merge-patch+json"}) as r:
            patched = await r.json()
        assert patched["kind"] == "PartialObjectMetadata"
        assert patched["metadata"]["labels"]["x"] == "1"
        async with s.get(f"{NS}/pods", params={"watch": "1", "labelSelector": f"pm={label}"},
                         headers=with_fallback) as r:
            event = json.loads(await r.content.readline())
        assert event["type"] == "ADDED"
        assert event["object"] == {"kind": "PartialObjectMetadata",
                                   "apiVersion": "meta.k8s.io/v1",
                                   "metadata": patched["metadata"]}
