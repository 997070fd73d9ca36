"""A 3-node lab, end to end: spreading, the overlay, Services from every node, a node
failure drill and `lab down` (issue 7's CI list). One lab for the module; the tests run
in order and the failure drill comes last but one.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet import labels, subpath
from agent.kubelet.images import BUSYBOX_IMAGE
from minikube_py.api.resources import (
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINTS,
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    SERVICES,
    STATEFULSETS,
)
from minikube_py.client import ApiClient
from minikube_py.cluster import kubeconfigs, sample_app
from minikube_py.cluster.health import node_ready
from minikube_py.cluster.lab import LabSpec
from minikube_py.ui.browser import chromium, ui_process
from tests.e2e.cluster_support import (
    LabCluster,
    api,
    app_container,
    docker_client,
    eventually,
    free_port,
    http_get,
    in_pod,
    lab_cluster,
    needs_root,
    trace,
)
from tests.fixtures.browser import needs_browser

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root,
              pytest.mark.timeout(900)]

NODE_COUNT = 3
REPLICAS = 6
GRACE, EVICTION = 20, 5  # s; the agent renews its Lease every 10 s: grace must be well above
SPEC = LabSpec(NODE_COUNT)
NODE_NAMES = [n.name for n in SPEC.records()]
NODE_IPS = {n.name: n.ip for n in SPEC.records()}


class Lab(LabCluster):
    def pods(self) -> list[dict[str, Any]]:
        """The workload's live pods (not terminating)."""
        items = api(self.admin, lambda c: c.list(PODS, namespace="default",
                                                 label_selector="app=hello"))["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def settled(self, avoid: str = "") -> list[dict[str, Any]] | None:
        """All replicas running and ready (none on `avoid`), or None."""
        pods = self.running()
        ok = len(pods) == REPLICAS and all(p["spec"]["nodeName"] != avoid for p in pods)
        return pods if ok else None

    def running(self) -> list[dict[str, Any]]:
        return [p for p in self.pods() if p.get("status", {}).get("phase") == "Running"
                and p["status"].get("podIP") and any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab_cluster(Lab(tmp_path_factory.mktemp("mkp-lab"), SPEC),
                     "--node-monitor-grace-period", f"{GRACE}s",
                     "--pod-eviction-timeout", f"{EVICTION}s") as lab:
        yield lab


@pytest.fixture(scope="module")
def placed(lab: Lab) -> list[dict[str, Any]]:
    """6 busybox httpd pods answering with their name, behind a NodePort Service: the pods
    as first placed."""
    svc = sample_app.service()
    svc["spec"]["type"] = "NodePort"

    async def create(client: ApiClient) -> None:
        await client.create(DEPLOYMENTS, sample_app.deployment(replicas=REPLICAS))
        await client.create(SERVICES, svc)
    sample_app.ensure_image()  # the workload's node-local image (one dockerd for all nodes)
    api(lab.admin, create)
    return eventually(lab.settled, timeout=120, what=f"{REPLICAS} running, ready pods")


@pytest.fixture
def workload(lab: Lab, placed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The app's pods as they are now (a node cut by another test moves them)."""
    return eventually(lab.settled, timeout=120, what=f"{REPLICAS} running, ready pods")


def service(lab: Lab) -> dict[str, Any]:
    return api(lab.admin, lambda c: c.get(SERVICES, "hello", namespace="default"))


def test_three_nodes_ready_each_in_its_namespace(lab: Lab) -> None:
    up = lab.up_result
    assert up is not None
    assert up.returncode == 0, up.stdout + up.stderr
    nodes = api(lab.admin, lambda c: c.list(NODES))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODE_NAMES
    assert all(node_ready(n) for n in nodes)
    assert len({n["spec"]["podCIDR"] for n in nodes}) == NODE_COUNT
    for n in nodes:
        addr = {a["type"]: a["address"] for a in n["status"]["addresses"]}
        assert addr["InternalIP"] == NODE_IPS[n["metadata"]["name"]]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=False).stdout
    assert all(name in netns.split() for name in NODE_NAMES)


def test_each_agent_runs_with_its_own_node_credential(lab: Lab) -> None:
    for name in NODE_NAMES:
        conf = kubeconfigs.load(lab.root / "state" / "lab" / "nodes" / name / "kubelet.conf")
        assert conf["clusters"][0]["cluster"]["server"].startswith(f"https://{SPEC.gateway}:")
        assert conf["users"][0]["name"] == f"system:node:{name}"
        assert conf["users"][0]["user"]["token"].startswith(f"mkpnode:{name}:")


def test_lab_exec_runs_inside_a_node(lab: Lab) -> None:
    out = lab.cli("lab", "exec", NODE_NAMES[1], "--", "ip", "-4", "-o", "addr", "show", "eth0")
    assert out.returncode == 0 and NODE_IPS[NODE_NAMES[1]] in out.stdout, out.stderr
    assert "vxlan" in lab.cli("lab", "exec", NODE_NAMES[1], "--", "ip", "-d", "link", "show",
                              "mkp.vxlan").stdout


def test_up_is_refused_while_the_lab_runs(lab: Lab) -> None:
    single = lab.cli("up", "--no-install")
    assert single.returncode == 1 and "lab cluster of 3 nodes is running" in single.stderr


def test_deployment_of_six_spreads_over_every_node(placed: list[dict[str, Any]]) -> None:
    per_node = Counter(p["spec"]["nodeName"] for p in placed)
    assert set(per_node) == set(NODE_NAMES), per_node


def test_every_pod_reaches_pods_on_the_other_nodes(workload: list[dict[str, Any]]) -> None:
    dc = docker_client()
    try:
        for src in workload:
            targets = {p["spec"]["nodeName"]: p for p in workload
                       if p["spec"]["nodeName"] != src["spec"]["nodeName"]}
            for node, dst in targets.items():
                out = in_pod(dc, src["metadata"]["uid"], http_get(dst["status"]["podIP"], 8080))
                assert out.strip() == f"hello from {dst['metadata']['name']}", (node, out)
    finally:
        dc.close()


def _collect(dc: Any, uid: str, ip: str, names: set[str], heard: set[str]) -> set[str] | None:
    """30 requests to the ClusterIP from inside pod `uid`, added to `heard`; all there yet?
    (Each node's proxy may take a moment to add endpoints that just became ready.)"""
    out = in_pod(dc, uid, http_get(ip, 80, times=30))
    heard.update(line.strip().removeprefix("hello from ") for line in out.splitlines()
                 if line.strip())
    return heard if heard == names else None


def test_cluster_ip_answers_from_every_node_with_every_backend(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    ip = service(lab)["spec"]["clusterIP"]
    names = {p["metadata"]["name"] for p in workload}
    one_per_node = {p["spec"]["nodeName"]: p for p in workload}
    dc = docker_client()
    try:
        for node, pod in one_per_node.items():
            collect = functools.partial(_collect, dc, pod["metadata"]["uid"], ip, names, set())
            eventually(collect, timeout=60, what=f"replies from all backends on {node}",
                       interval=0.5)
    finally:
        dc.close()


def test_every_node_finds_a_service_in_another_namespace_by_name(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    """Cluster DNS from a pod on each node: `web.other-ns` (a Service of another namespace,
    its Endpoints one of the workload's pods) by nslookup and by an HTTP request by name."""
    target = workload[0]

    async def create(client: ApiClient) -> dict[str, Any]:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": "other-ns"}})
        svc = await client.create(SERVICES, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}, "other-ns")
        await client.create(ENDPOINTS, {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": target["status"]["podIP"]}],
                         "ports": [{"name": "http", "port": 8080}]}]}, "other-ns")
        return svc
    ip = api(lab.admin, create)["spec"]["clusterIP"]
    want = f"hello from {target['metadata']['name']}"
    one_per_node = {p["spec"]["nodeName"]: p for p in workload}
    dc = docker_client()
    try:
        for node, pod in one_per_node.items():
            uid = pod["metadata"]["uid"]
            # busybox's nslookup ignores search paths; nc resolves through the C library
            looked_up = functools.partial(_lookup, dc, uid, "web.other-ns.svc.cluster.local")
            assert ip in eventually(looked_up, timeout=30, what=f"nslookup on {node}")
            fetched = functools.partial(_fetches, dc, uid, http_get("web.other-ns", 80), want)
            eventually(fetched, timeout=30, what=f"http://web.other-ns/ from {node}")
    finally:
        dc.close()


def _fetches(dc: Any, uid: str, script: str, want: str) -> bool:
    return want in in_pod(dc, uid, script)


def _lookup(dc: Any, uid: str, name: str) -> str | None:
    code, out = app_container(dc, uid).exec_run(["nslookup", name])
    return out.decode(errors="replace") if code == 0 else None


def test_node_port_answers_on_every_node_address(lab: Lab, workload: list[dict[str, Any]]) -> None:
    port = service(lab)["spec"]["ports"][0]["nodePort"]
    names = {p["metadata"]["name"] for p in workload}
    for node, ip in NODE_IPS.items():
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=5) as resp:
            assert resp.read().decode().strip().removeprefix("hello from ") in names, node


def _trace(lab: Lab, *args: str) -> dict[str, Any]:
    return trace(lab.root, *args)


def test_trace_probe_confirms_the_path_to_a_service_endpoint(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    """`trace --probe` from a pod to the Service: one real connection; its conntrack entry
    names the endpoint, the printed path leads there (across the overlay when the
    endpoint is on another node), and every nat rule of the path on the source node
    counted it."""
    source = workload[0]
    src = f"default/{source['metadata']['name']}"
    by_ip = {p["status"]["podIP"]: p for p in workload}
    for _ in range(6):  # until the random pick lands on another node once
        trace = _trace(lab, src, "hello", "--probe")
        assert [h["outcome"] for h in trace["hops"] if h["kind"] == "probe"] == ["connected"]
        entry = next(h["entry"] for h in trace["hops"] if h["kind"] == "conntrack")
        endpoint = re.findall(r"src=(\S+) dst=\S+ sport=(\d+)", entry)[1]
        target = by_ip[endpoint[0]]
        dnat = next(h for h in trace["hops"] if h["kind"] == "dnat")
        assert dnat["endpoint"] == f"{endpoint[0]}:{endpoint[1]}"
        assert trace["outcome"] == (f"delivered to pod default/{target['metadata']['name']} "
                                    f"on node {target['spec']['nodeName']}")
        nat = [h for h in trace["hops"] if h["kind"] == "rule" and h["table"] == "nat"
               and h["node"] == source["spec"]["nodeName"]
               and h["chain"].startswith(("PREROUTING", "KUBE-SERVICES", "KUBE-SVC-",
                                          "KUBE-SEP-"))]
        assert len(nat) >= 4 and all(h["counterDelta"] >= 1 for h in nat), nat
        if target["spec"]["nodeName"] != source["spec"]["nodeName"]:
            tunnel = next(h for h in trace["hops"] if h["kind"] == "vxlan")
            assert tunnel["to"] == target["spec"]["nodeName"]
            assert tunnel["underlay"] == NODE_IPS[target["spec"]["nodeName"]]
            return
    pytest.fail("six probes all picked an endpoint on the source node")


def test_trace_node_port_from_a_node_and_a_service_without_endpoints(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    port = service(lab)["spec"]["ports"][0]["nodePort"]
    node = NODE_NAMES[0]
    trace = _trace(lab, f"node/{node}", f"{NODE_IPS[node]}:{port}")
    chains = [h["chain"] for h in trace["hops"] if h["kind"] == "rule"]
    assert "KUBE-NODEPORTS" in chains and any(c.startswith("KUBE-SEP-") for c in chains)
    assert trace["outcome"].startswith("delivered to pod default/hello-")
    empty = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "trace-empty"},
             "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 80}]}}
    api(lab.admin, lambda c: c.create(SERVICES, empty, namespace="default"))
    try:
        src = f"default/{workload[0]['metadata']['name']}"
        outcome = eventually(lambda: (t := _trace(lab, src, "trace-empty"))["outcome"]
                             .startswith("REJECT") and t["outcome"], timeout=30,
                             what="the proxy's REJECT for a Service without endpoints")
        assert outcome.endswith("filter FORWARD")
    finally:
        api(lab.admin, lambda c: c.delete(SERVICES, "trace-empty", namespace="default"))



def test_trace_probe_to_a_pod_on_the_same_node_stays_on_its_bridge(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    """Pod to pod on one node: the source's veth on the bridge, the route to the bridge,
    the destination's veth (the one the node's kernel has there), no overlay; the probe's
    SYN left its conntrack entry, answered."""
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in workload:
        by_node.setdefault(pod["spec"]["nodeName"], []).append(pod)
    # 6 pods on 3 nodes: some node always runs two of them
    source, target = next(pods for pods in by_node.values() if len(pods) > 1)[:2]
    node, name = source["spec"]["nodeName"], target["metadata"]["name"]
    src_ip, dst_ip = source["status"]["podIP"], target["status"]["podIP"]
    trace = _trace(lab, f"default/{source['metadata']['name']}", f"pod/default/{name}:8080",
                   "--probe")
    hops = trace["hops"]
    assert {h["node"] for h in hops} == {node}
    assert not [h for h in hops if h["kind"] in ("dnat", "neighbour", "fdb", "vxlan")]
    out, into = [h for h in hops if h["kind"] == "veth"]
    assert out["bridge"] == into["bridge"] and out["veth"] != into["veth"]
    assert next(h for h in hops if h["kind"] == "route")["route"]["dev"] == out["bridge"]
    link = lab.cli("lab", "exec", node, "--", "ip", "-o", "link", "show", into["veth"])
    assert f"master {into['bridge']}" in link.stdout, link.stdout + link.stderr
    assert trace["outcome"] == f"delivered to pod default/{name} on node {node}"
    probe = next(h for h in hops if h["kind"] == "probe")
    assert probe["outcome"] == "connected" and probe["answered"], probe
    flow = f"src={src_ip} dst={dst_ip} sport={probe['sport']} dport=8080 "
    assert any(flow in h["entry"] and "[UNREPLIED]" not in h["entry"]
               for h in hops if h["kind"] == "conntrack"), hops


def test_trace_probe_to_a_dead_endpoint_shows_the_tunnel_and_no_answer(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    """A selectorless Service whose Endpoints name an address of another node's pod
    CIDR that no pod has (.250: far from what the IPAM hands out next): the path DNATs
    to it, tunnels to that node and ends at its bridge; the probe's SYN gets no answer."""
    source = workload[0]
    nodes = api(lab.admin, lambda c: c.list(NODES))["items"]
    remote = next(n for n in nodes if n["metadata"]["name"] != source["spec"]["nodeName"])
    dead = str(ipaddress.IPv4Network(remote["spec"]["podCIDR"])[250])
    pods = api(lab.admin, lambda c: c.list(PODS))["items"]
    assert all((p.get("status") or {}).get("podIP") != dead for p in pods)
    name = f"trace-dead-{uuid.uuid4().hex[:6]}"

    async def create(client: ApiClient) -> dict[str, Any]:
        svc = await client.create(SERVICES, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}, "default")
        await client.create(ENDPOINTS, {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": dead}], "ports": [{"port": 8080}]}]}, "default")
        return svc

    async def delete(client: ApiClient) -> None:
        await client.delete(ENDPOINTS, name, namespace="default")
        await client.delete(SERVICES, name, namespace="default")

    cluster_ip = api(lab.admin, create)["spec"]["clusterIP"]
    try:
        src = f"default/{source['metadata']['name']}"
        eventually(lambda: any(h["kind"] == "dnat" for h in _trace(lab, src, name)["hops"]),
                   timeout=30, what="the source node's proxy rules for the dead endpoint")
        trace = _trace(lab, src, name, "--probe")
        hops = trace["hops"]
        assert next(h for h in hops if h["kind"] == "dnat")["endpoint"] == f"{dead}:8080"
        tunnel = next(h for h in hops if h["kind"] == "vxlan")
        assert tunnel["to"] == remote["metadata"]["name"]
        assert tunnel["underlay"] == NODE_IPS[remote["metadata"]["name"]]
        probe = next(h for h in hops if h["kind"] == "probe")
        assert probe["answered"] is False and probe["outcome"] != "connected", probe
        assert any(f"dst={cluster_ip} sport={probe['sport']} dport=80 [UNREPLIED] src={dead} "
                   in h["entry"] for h in hops if h["kind"] == "conntrack"), hops
        assert trace["outcome"] == (f"no pod with address {dead} on node "
                                    f"{remote['metadata']['name']}; probe: the SYN got no answer")
    finally:
        api(lab.admin, delete)

@needs_browser
def test_ui_shows_the_lab_live_and_a_pods_logs_on_click(
        lab: Lab, workload: list[dict[str, Any]], tmp_path: Path) -> None:
    """`minikube-py ui --open` against the lab in headless Chromium: every node's card
    holds its running hello pods, the overlay table lists the mesh, a new pod appears
    without a reload and a click shows its logs; a screenshot of the page is kept (and
    copied to $MKP_UI_SCREENSHOT when set)."""
    port = free_port()
    with ui_process("--root", str(lab.root), "--port", str(port),
                    log=tmp_path / "ui.log") as (_, url), chromium() as driver:
        driver.get(url)
        eventually(lambda: driver.find_element("id", "status").text == "live", timeout=30,
                   what="the page live")
        placed = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in workload}

        def shown() -> dict[str, str]:
            found = driver.execute_script(
                "return [...document.querySelectorAll('[data-pod]')].map(e => "
                "[e.dataset.pod, e.parentNode.parentNode.dataset.node, e.dataset.phase])")
            return {k.split("/", 1)[1]: f"{node}:{phase}" for k, node, phase in found
                    if k.startswith("default/")}

        eventually(lambda: all(shown().get(n) == f"{node}:Running"
                               for n, node in placed.items()) or None,
                   timeout=30, what="each hello pod on its node's card")
        overlay = driver.find_element("id", "overlay").text
        assert all(name in overlay and NODE_IPS[name] in overlay for name in NODE_NAMES)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ui-logger"},
               "spec": {"containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": [
                   "sh", "-c", "echo hello-from-the-logs; exec sleep 3600"]}]}}
        api(lab.admin, lambda c: c.create(PODS, pod, namespace="default"))
        try:
            eventually(lambda: shown().get("ui-logger", "").endswith(":Running") or None,
                       timeout=60, what="the new pod on the page, Running")
            driver.find_element("css selector", '[data-pod="default/ui-logger"]').click()
            eventually(lambda: "hello-from-the-logs" in driver.find_element(
                "id", "logs-text").text or None, timeout=20, what="its logs shown")
            shot = tmp_path / "ui-lab.png"
            driver.find_element("id", "logs-close").click()
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("MKP_UI_SCREENSHOT"):
                shutil.copy(shot, os.environ["MKP_UI_SCREENSHOT"])
        finally:
            api(lab.admin, lambda c: c.delete(PODS, "ui-logger", namespace="default",
                                              grace_period_seconds=0))


def _containers_by_pod(node: str) -> Counter[str]:
    dc = docker_client()
    try:
        return Counter(c.labels[labels.POD_UID] for c in dc.containers.list(
            filters={"label": [f"{labels.NODE}={node}", f"{labels.KIND}={labels.APP}"]}))
    finally:
        dc.close()


def test_daemonset_runs_on_every_node_and_stays_on_a_cordoned_one(lab: Lab) -> None:
    """A real pod per node through the scheduler's node-affinity placement; a cordon
    does not move it (daemon pods tolerate unschedulable); gone with its DaemonSet."""
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "node-agent"},
            "spec": {"selector": {"matchLabels": {"app": "node-agent"}}, "template": {
                "metadata": {"labels": {"app": "node-agent"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}]}}}}

    def daemons() -> dict[str, str]:
        items = api(lab.admin, lambda c: c.list(PODS, namespace="default",
                                                label_selector="app=node-agent"))["items"]
        return {p["spec"].get("nodeName", ""): p["metadata"]["uid"] for p in items
                if p.get("status", {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")}

    api(lab.admin, lambda c: c.create(DAEMONSETS, body, namespace="default"))
    def on_every_node() -> dict[str, str] | None:
        d = daemons()
        return d if set(d) == set(NODE_NAMES) else None
    placed = eventually(on_every_node, timeout=120, what="a running daemon pod on every node")
    cordoned = NODE_NAMES[0]
    api(lab.admin, lambda c: c.patch(NODES, cordoned, {"spec": {"unschedulable": True}}))
    try:
        time.sleep(3)
        assert daemons().get(cordoned) == placed[cordoned]
    finally:
        api(lab.admin, lambda c: c.patch(NODES, cordoned, {"spec": {"unschedulable": None}}))
    api(lab.admin, lambda c: c.delete(DAEMONSETS, "node-agent", namespace="default",
                                      propagation_policy="Foreground"))
    eventually(lambda: not api(lab.admin, lambda c: c.list(
        PODS, namespace="default", label_selector="app=node-agent"))["items"], timeout=90,
        what="daemon pods gone with their DaemonSet")


def test_statefulset_replicas_each_on_their_own_node_keep_their_data(lab: Lab) -> None:
    """volumeClaimTemplates on the default local-path class and required anti-affinity
    on the hostname: one replica per node, each with its own provisioned volume on that
    node, and what each wrote survives a rolling restart (`kubectl rollout restart`)."""
    name = "store"
    script = ("[ -f /data/id ] || echo \"$(hostname)-$$-$(date +%s)\" > /data/id; "
              "exec sleep 3600")
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": NODE_COUNT, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "affinity": {"podAntiAffinity": {
                             "requiredDuringSchedulingIgnoredDuringExecution": [{
                                 "labelSelector": {"matchLabels": {"app": name}},
                                 "topologyKey": "kubernetes.io/hostname"}]}},
                         "containers": [{"name": "c", "image": BUSYBOX_IMAGE,
                                         "command": ["sh", "-c", script],
                                         "volumeMounts": [{"name": "data",
                                                           "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "16Mi"}}}}]}}

    def replicas() -> dict[str, dict[str, Any]] | None:
        sts = api(lab.admin, lambda c: c.get(STATEFULSETS, name, namespace="default"))
        status = sts.get("status") or {}
        pods = {p["metadata"]["name"]: p for p in api(lab.admin, lambda c: c.list(
            PODS, namespace="default", label_selector=f"app={name}"))["items"]}
        done = (status.get("readyReplicas") == NODE_COUNT
                and status.get("updatedReplicas") == NODE_COUNT
                and status.get("currentRevision") == status.get("updateRevision")
                and len(pods) == NODE_COUNT
                and all(p.get("status", {}).get("phase") == "Running"
                        and not p["metadata"].get("deletionTimestamp") for p in pods.values()))
        return pods if done else None

    def written(pods: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
        dc = docker_client()
        try:
            return {n: (p["spec"]["nodeName"],
                        in_pod(dc, p["metadata"]["uid"], "cat /data/id").strip())
                    for n, p in pods.items()}
        finally:
            dc.close()

    api(lab.admin, lambda c: c.create(STATEFULSETS, body, namespace="default"))
    try:
        first = written(eventually(replicas, timeout=180, what=f"{name}: 3 replicas ready"))
        assert sorted(node for node, _ in first.values()) == sorted(NODE_NAMES)
        assert len({data for _, data in first.values()}) == NODE_COUNT
        uids = {n: p["metadata"]["uid"] for n, p in (replicas() or {}).items()}
        restart = subprocess.run(["kubectl", "--kubeconfig", str(lab.admin), "rollout",
                                  "restart", f"statefulset/{name}"],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        def restarted() -> dict[str, dict[str, Any]] | None:
            r = replicas()
            return r if r and all(r[n]["metadata"]["uid"] != uid
                                  for n, uid in uids.items()) else None
        again = eventually(restarted, timeout=240, what=f"{name}: every replica restarted")
        assert written(again) == first  # same node, same data, for each identity
    finally:
        api(lab.admin, lambda c: c.delete(STATEFULSETS, name, namespace="default",
                                          propagation_policy="Foreground"))
        eventually(lambda: not api(lab.admin, lambda c: c.list(
            PODS, namespace="default", label_selector=f"app={name}"))["items"], timeout=120,
            what=f"{name} pods gone")
        claims = api(lab.admin, lambda c: c.list(PERSISTENTVOLUMECLAIMS, namespace="default"))
        for claim in claims["items"]:
            if claim["metadata"]["name"].startswith(f"data-{name}-"):
                api(lab.admin, functools.partial(_delete_claim, claim["metadata"]["name"]))


async def _delete_claim(name: str, client: ApiClient) -> Any:
    return await client.delete(PERSISTENTVOLUMECLAIMS, name, namespace="default")


def test_memory_empty_dir_is_tmpfs_and_sub_path_is_pinned_in_a_node(lab: Lab) -> None:
    """A lab node's agent enters only its node's network namespace, so its mounts are the
    host's, which dockerd sees: the container's Memory emptyDir is the agent's tmpfs and
    its subPath the agent's pinned bind, as on a host. Deleting the pod unmounts both;
    `lab down` leaving no mount is checked by the fixture."""
    name = f"mounts-{uuid.uuid4().hex[:5]}"
    seed = "mkdir -p /s/sub && echo hello > /s/sub/greeting"
    body = {"metadata": {"name": name}, "spec": {
        "nodeName": NODE_NAMES[0], "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
                    {"name": "scratch", "emptyDir": {}}],
        "initContainers": [{"name": "seed", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", seed],
                            "volumeMounts": [{"name": "scratch", "mountPath": "/s"}]}],
        "containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "mem", "mountPath": "/mem"},
                                         {"name": "scratch", "mountPath": "/sub",
                                          "subPath": "sub"}]}]}}
    uid = api(lab.admin, lambda c: c.create(PODS, body, namespace="default"))["metadata"]["uid"]

    def ours() -> list[str]:
        return [m for m in subpath.mounted_under(lab.root) if uid in m]
    try:
        eventually(lambda: api(lab.admin, lambda c: c.get(PODS, name, namespace="default"))
                   .get("status", {}).get("phase") == "Running", timeout=90,
                   what=f"{name} running")
        dc = docker_client()
        try:
            mounts = in_pod(dc, uid, "grep ' /mem ' /proc/mounts; df -k /mem; cat /sub/greeting")
        finally:
            dc.close()
        assert mounts.startswith("tmpfs /mem tmpfs "), mounts
        assert re.search(r"\n\S+\s+8192\s", mounts), mounts  # its sizeLimit: 8Mi
        assert mounts.endswith("hello\n"), mounts
        assert any(m.endswith("/volumes/mem") for m in ours()), subpath.mounted_under(lab.root)
        assert any(f"/{subpath.SUBPATHS_DIR}/scratch/c/" in m for m in ours()), ours()
    finally:
        api(lab.admin, lambda c: c.delete(PODS, name, namespace="default"))
    eventually(lambda: not ours(), timeout=60, what=f"{name}'s mounts gone with it")


def test_cut_node_goes_not_ready_its_pods_move_and_it_returns_without_duplicates(
        lab: Lab, workload: list[dict[str, Any]]) -> None:
    """One scenario, not two tests: the restore only means something after the cut."""
    victim = NODE_NAMES[-1]
    assert lab.cli("lab", "link", victim, "down").returncode == 0
    try:
        eventually(lambda: not node_ready(api(lab.admin, lambda c: c.get(NODES, victim))),
                   timeout=GRACE + 30, what=f"{victim} NotReady")
        moved = eventually(lambda: lab.settled(avoid=victim), timeout=GRACE + EVICTION + 90,
                           what="pods recreated on the other nodes")
        assert {p["spec"]["nodeName"] for p in moved} <= set(NODE_NAMES[:-1])
    finally:
        assert lab.cli("lab", "link", victim, "up").returncode == 0
    eventually(lambda: node_ready(api(lab.admin, lambda c: c.get(NODES, victim))),
               timeout=60, what=f"{victim} Ready again")
    # Its agent learns its pods are gone and removes their containers.
    eventually(lambda: not _containers_by_pod(victim), timeout=90,
               what=f"containers of evicted pods removed from {victim}")
    live = {p["metadata"]["uid"]: p["spec"]["nodeName"] for p in lab.running()}
    assert len(live) == REPLICAS
    for node in NODE_NAMES:
        per_pod = _containers_by_pod(node)
        assert all(n == 1 for n in per_pod.values()), (node, per_pod)
        assert set(per_pod) == {uid for uid, n in live.items() if n == node}, node
