"""Server-side printing: kubectl's columns and cells for every kind."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.registry import strategy_for
from minikube_py.api.table import human_duration
from tests.fixtures.api_strategies import NOW, ago, table_meta, table_row

HEADERS = {
    resources.PODS: (["Name", "Ready", "Status", "Restarts", "Age"],
                     ["IP", "Node", "Nominated Node", "Readiness Gates"]),
    resources.DEPLOYMENTS: (["Name", "Ready", "Up-to-date", "Available", "Age"],
                            ["Containers", "Images", "Selector"]),
    resources.REPLICASETS: (["Name", "Desired", "Current", "Ready", "Age"],
                            ["Containers", "Images", "Selector"]),
    resources.SERVICES: (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
                         ["Selector"]),
    resources.NODES: (["Name", "Status", "Roles", "Age", "Version"],
                      ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
                       "Container-Runtime"]),
    resources.EVENTS: (["Last Seen", "Type", "Reason", "Object", "Message"],
                       ["Subobject", "Source", "First Seen", "Count", "Name"]),
    resources.ENDPOINTS: (["Name", "Endpoints", "Age"], []),
    resources.NAMESPACES: (["Name", "Status", "Age"], []),
    resources.SECRETS: (["Name", "Type", "Data", "Age"], []),
    resources.CONFIGMAPS: (["Name", "Data", "Age"], []),
    resources.SERVICEACCOUNTS: (["Name", "Secrets", "Age"], []),
    resources.LEASES: (["Name", "Holder", "Age"], []),
    resources.PODDISRUPTIONBUDGETS: (["Name", "Min Available", "Max Unavailable",
                                      "Allowed Disruptions", "Age"], []),
    resources.REPLICATIONCONTROLLERS: (["Name", "Desired", "Current", "Ready", "Age"],
                                       ["Containers", "Images", "Selector"]),
    resources.DAEMONSETS: (["Name", "Desired", "Current", "Ready", "Up-to-date", "Available",
                            "Node Selector", "Age"], ["Containers", "Images", "Selector"]),
    resources.STATEFULSETS: (["Name", "Ready", "Age"], ["Containers", "Images"]),
    resources.CONTROLLERREVISIONS: (["Name", "Controller", "Revision", "Age"], []),
    resources.JOBS: (["Name", "Status", "Completions", "Duration", "Age"],
                     ["Containers", "Images", "Selector"]),
    resources.CRONJOBS: (["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule",
                          "Age"], ["Containers", "Images", "Selector"]),
    resources.ENDPOINTSLICES: (["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
    resources.PERSISTENTVOLUMES: (["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status",
                                   "Claim", "StorageClass", "VolumeAttributesClass", "Reason",
                                   "Age"], ["VolumeMode"]),
    resources.PERSISTENTVOLUMECLAIMS: (["Name", "Status", "Volume", "Capacity", "Access Modes",
                                        "StorageClass", "VolumeAttributesClass", "Age"],
                                       ["VolumeMode"]),
    resources.STORAGECLASSES: (["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode",
                                "AllowVolumeExpansion", "Age"], []),
    resources.INGRESSES: (["Name", "Class", "Hosts", "Address", "Ports", "Age"], []),
    resources.INGRESSCLASSES: (["Name", "Controller", "Parameters", "Age"], []),
    resources.NETWORKPOLICIES: (["Name", "Pod-Selector", "Age"], []),
    resources.ROLES: (["Name", "Created At"], []),
    resources.CLUSTERROLES: (["Name", "Created At"], []),
    resources.CUSTOMRESOURCEDEFINITIONS: (["Name", "Created At"], []),
    resources.APISERVICES: (["Name", "Service", "Available", "Age"], []),
    resources.HORIZONTALPODAUTOSCALERS: (["Name", "Reference", "Targets", "MinPods", "MaxPods",
                                          "Replicas", "Age"], []),
    resources.VALIDATINGWEBHOOKCONFIGURATIONS: (["Name", "Webhooks", "Age"], []),
    resources.MUTATINGWEBHOOKCONFIGURATIONS: (["Name", "Webhooks", "Age"], []),
    resources.ROLEBINDINGS: (["Name", "Role", "Age"], ["Users", "Groups", "ServiceAccounts"]),
    resources.CLUSTERROLEBINDINGS: (["Name", "Role", "Age"],
                                    ["Users", "Groups", "ServiceAccounts"]),
}


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.plural) for r in resources.ALL])
def test_columns_match_kubectl(resource: resources.Resource) -> None:
    normal, wide = HEADERS[resource]
    table = strategy_for(resource).table([], now=NOW)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    definitions = table["columnDefinitions"]
    assert [c["name"] for c in definitions if c["priority"] == 0] == normal
    assert [c["name"] for c in definitions if c["priority"] == 1] == wide
    assert all(set(c) == {"name", "type", "format", "description", "priority"}
               for c in definitions)
    narrow = strategy_for(resource).table([], wide=False, now=NOW)
    assert [c["name"] for c in narrow["columnDefinitions"]] == normal


def _pod(**status: Any) -> dict[str, Any]:
    return {"metadata": table_meta("web"), "spec": {"containers": [{"name": "a"}, {"name": "b"}],
                                               "nodeName": "node-1"},
            "status": {"phase": "Running", "podIP": "10.244.0.5", **status}}


def _container(ready: bool = True, restarts: int = 0, **state: Any) -> dict[str, Any]:
    return {"ready": ready, "restartCount": restarts,
            "state": state or {"running": {"startedAt": ago(60)}}}


@pytest.mark.parametrize(("pod", "ready", "status", "restarts"), [
    pytest.param({"metadata": table_meta("p"), "spec": {"containers": [{"name": "a"}]},
                  "status": {"phase": "Pending"}}, "0/1", "Pending", "0", id="pending"),
    pytest.param(_pod(containerStatuses=[_container(), _container()]), "2/2", "Running", "0",
                 id="running"),
    pytest.param(_pod(containerStatuses=[
        _container(), {**_container(False, 3, waiting={"reason": "CrashLoopBackOff"}),
                       "lastState": {"terminated": {"finishedAt": ago(90)}}}]),
        "1/2", "CrashLoopBackOff", "3 (90s ago)", id="crashloop"),
    pytest.param(_pod(phase="Pending", containerStatuses=[
        _container(False, waiting={"reason": "ContainerCreating"})]), "0/2", "ContainerCreating",
        "0", id="creating"),
    pytest.param(_pod(phase="Succeeded", containerStatuses=[
        _container(False, terminated={"exitCode": 0, "reason": "Completed"})]), "0/2",
        "Completed", "0", id="completed"),
    pytest.param(_pod(phase="Failed", containerStatuses=[
        _container(False, terminated={"exitCode": 2})]), "0/2", "ExitCode:2", "0",
        id="exit-code"),
    pytest.param(_pod(phase="Pending", initContainerStatuses=[
        _container(False, waiting={"reason": "PodInitializing"})]), "0/2", "Init:0/0", "0",
        id="init"),
    pytest.param(_pod(reason="Evicted", phase="Failed"), "0/2", "Evicted", "0", id="reason"),
    pytest.param({**_pod(containerStatuses=[_container()]),
                  "metadata": table_meta("web", deletionTimestamp=ago(1))}, "1/2", "Terminating",
                 "0", id="terminating"),
])
def test_pod_row(pod: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    row = table_row(resources.PODS, pod)
    assert (row["Ready"], row["Status"], row["Restarts"]) == (ready, status, restarts)


def test_pod_wide_cells() -> None:
    row = table_row(resources.PODS, _pod(containerStatuses=[_container()]))
    assert (row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"], row["Age"]) \
        == ("10.244.0.5", "node-1", "<none>", "<none>", "5m")


def test_deployment_and_replicaset_rows() -> None:
    spec = {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"},
                                                 {"name": "log", "image": "busybox"}]}}}
    deploy = {"metadata": table_meta("web"), "spec": spec,
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert list(table_row(resources.DEPLOYMENTS, deploy).values()) == [
        "web", "2/3", 3, 2, "5m", "web,log", "nginx:1,busybox", "app=web"]
    rs = {"metadata": table_meta("web-1"), "spec": spec, "status": {"replicas": 3, "readyReplicas": 1}}
    assert list(table_row(resources.REPLICASETS, rs).values()) == [
        "web-1", 3, 3, 1, "5m", "web,log", "nginx:1,busybox", "app=web"]


@pytest.mark.parametrize(("spec", "status", "cells"), [
    pytest.param({"type": "ClusterIP", "clusterIP": "10.96.0.10",
                  "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                  "selector": {"b": "2", "a": "1"}}, {},
                 ["ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "a=1,b=2"], id="cluster"),
    pytest.param({"type": "NodePort", "clusterIP": "10.96.0.11",
                  "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}, {},
                 ["NodePort", "10.96.0.11", "<none>", "80:30080/TCP", "<none>"], id="nodeport"),
    pytest.param({"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": []},
                 {"loadBalancer": {}}, ["LoadBalancer", "10.96.0.12", "<pending>", "<none>",
                                        "<none>"], id="lb-pending"),
    pytest.param({"type": "ExternalName", "externalName": "db.example.com"}, {},
                 ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"], id="external"),
])
def test_service_rows(spec: dict[str, Any], status: dict[str, Any], cells: list[str]) -> None:
    row = table_row(resources.SERVICES, {"metadata": table_meta("s"), "spec": spec, "status": status})
    assert [row[c] for c in ("Type", "Cluster-IP", "External-IP", "Port(s)", "Selector")] == cells


def test_node_row() -> None:
    node = {"metadata": table_meta("n1", 3 * 86400, labels={"node-role.kubernetes.io/control-plane": ""}),
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.5"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian 12",
                                    "kernelVersion": "6.1", "containerRuntimeVersion": "docker"}}}
    assert list(table_row(resources.NODES, node).values()) == [
        "n1", "Ready,SchedulingDisabled", "control-plane", "3d", "v1.32.0", "192.168.1.5",
        "<none>", "Debian 12", "6.1", "docker"]
    node["status"]["conditions"][0]["status"] = "Unknown"
    del node["spec"]["unschedulable"]
    assert table_row(resources.NODES, node)["Status"] == "NotReady"


def test_endpoints_event_and_small_kinds() -> None:
    endpoints = {"metadata": table_meta("web"), "subsets": [{
        "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 5)], "ports": [{"port": 80}]}]}
    assert table_row(resources.ENDPOINTS, endpoints)["Endpoints"] == \
        "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..."
    assert table_row(resources.ENDPOINTS, {"metadata": table_meta("e")})["Endpoints"] == "<none>"
    event = {"metadata": table_meta("web.1"), "type": "Warning", "reason": "BackOff",
             "message": " Back-off restarting ", "count": 4, "firstTimestamp": ago(600),
             "lastTimestamp": ago(30), "source": {"component": "kubelet", "host": "n1"},
             "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"}}
    assert list(table_row(resources.EVENTS, event).values()) == [
        "30s", "Warning", "BackOff", "pod/web", "spec.containers{a}", "kubelet, n1",
        "Back-off restarting", "10m", 4, "web.1"]
    secret = {"metadata": table_meta("s"), "type": "Opaque", "data": {"a": "", "b": ""}}
    assert list(table_row(resources.SECRETS, secret).values()) == ["s", "Opaque", 2, "5m"]
    cm = {"metadata": table_meta("c"), "data": {"a": ""}, "binaryData": {"b": ""}}
    assert list(table_row(resources.CONFIGMAPS, cm).values()) == ["c", 2, "5m"]
    ns = {"metadata": table_meta("n"), "status": {"phase": "Terminating"}}
    assert list(table_row(resources.NAMESPACES, ns).values()) == ["n", "Terminating", "5m"]
    lease = {"metadata": table_meta("l"), "spec": {"holderIdentity": "me"}}
    assert list(table_row(resources.LEASES, lease).values()) == ["l", "me", "5m"]
    sa = {"metadata": {"name": "sa"}, "secrets": [{"name": "x"}]}
    assert list(table_row(resources.SERVICEACCOUNTS, sa).values()) == ["sa", 1, "<unknown>"]


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"),
    (150, "2m30s"), (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (3 * 3600 + 600,
                                                                             "3h10m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"),
    (8 * 86400, "8d"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_malformed_status_prints_unknown_cells() -> None:
    pod = {"metadata": table_meta("web"), "spec": {"containers": []},
           "status": {"containerStatuses": [{"state": {"terminated": {"signal": []}},
                                             "restartCount": "many"}]}}
    assert list(table_row(resources.PODS, pod).values()) == ["web"] + ["<unknown>"] * 8


@pytest.mark.parametrize(("spec", "status", "cells"), [
    pytest.param({"completions": 5, "parallelism": 2}, {"succeeded": 3, "startTime": ago(90)},
                 ("Running", "3/5", "90s"), id="running"),
    pytest.param({"parallelism": 4}, {"succeeded": 0}, ("Running", "0/1 of 4", ""),
                 id="work-queue"),
    pytest.param({"completions": 1}, {"succeeded": 1, "startTime": ago(200),
                                      "completionTime": ago(80),
                                      "conditions": [{"type": "Complete", "status": "True"}]},
                 ("Complete", "1/1", "2m"), id="complete"),
    pytest.param({"completions": 2}, {"failed": 7, "conditions": [
        {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]},
        ("Failed", "0/2", ""), id="failed"),
    pytest.param({"completions": 1, "suspend": True}, {"conditions": [
        {"type": "Suspended", "status": "True"}]}, ("Suspended", "0/1", ""), id="suspended"),
])
def test_job_row(spec: dict[str, Any], status: dict[str, Any], cells: tuple[str, ...]) -> None:
    job = {"metadata": table_meta("pi"), "spec": {**spec, "selector": {"matchLabels": {"a": "b"}},
                                             "template": {"spec": {"containers": [
                                                 {"name": "pi", "image": "perl"}]}}},
           "status": status}
    row = table_row(resources.JOBS, job)
    assert (row["Status"], row["Completions"], row["Duration"]) == cells
    assert (row["Containers"], row["Images"], row["Selector"]) == ("pi", "perl", "a=b")


def test_cronjob_row() -> None:
    cj = {"metadata": table_meta("backup"), "spec": {
        "schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "suspend": False,
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": ago(45)}}
    row = table_row(resources.CRONJOBS, cj)
    assert [row[k] for k in ("Schedule", "Timezone", "Suspend", "Active", "Last Schedule")] \
        == ["*/5 * * * *", "Europe/Paris", "False", 1, "45s"]
    never = table_row(resources.CRONJOBS, {"metadata": table_meta("x"), "spec": {"schedule": "@daily"}})
    assert (never["Timezone"], never["Last Schedule"], never["Active"]) == ("<none>", "<none>", 0)


def test_daemonset_and_controllerrevision_rows() -> None:
    ds = {"metadata": table_meta("agent"), "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {"spec": {"nodeSelector": {"zone": "a", "disk": "ssd"},
                              "containers": [{"name": "a", "image": "busybox"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                   "updatedNumberScheduled": 1, "numberAvailable": 2}}
    row = table_row(resources.DAEMONSETS, ds)
    assert [row[k] for k in ("Desired", "Current", "Ready", "Up-to-date", "Available",
                             "Node Selector", "Selector")] == [3, 3, 2, 1, 2, "disk=ssd,zone=a",
                                                               "app=agent"]
    revision = {"metadata": table_meta("agent-5d4f8", ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u",
         "controller": True}]), "revision": 2, "data": {}}
    row = table_row(resources.CONTROLLERREVISIONS, revision)
    assert (row["Controller"], row["Revision"]) == ("daemonset.apps/agent", 2)


def test_poddisruptionbudget_row() -> None:
    pdb = {"metadata": table_meta("web"), "spec": {"minAvailable": "50%"},
           "status": {"disruptionsAllowed": 2}}
    row = table_row(resources.PODDISRUPTIONBUDGETS, pdb)
    assert [row[k] for k in ("Min Available", "Max Unavailable", "Allowed Disruptions")] == [
        "50%", "N/A", 2]


def test_replicationcontroller_row() -> None:
    rc = {"metadata": table_meta("web"), "spec": {
        "replicas": 3, "selector": {"app": "web", "tier": "fe"},
        "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2}}
    row = table_row(resources.REPLICATIONCONTROLLERS, rc)
    assert [row[k] for k in ("Desired", "Current", "Ready", "Selector")] == [
        3, 3, 2, "app=web,tier=fe"]
