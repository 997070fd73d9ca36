"""The daily kubectl workflow (issue 8) with a real kubectl, newest and oldest, on a real node.

One private cluster for the module (tests/e2e/kubectl_cluster.py). Every test passes alone
and in any order: for each kubectl version, `kc` is a namespace holding the app at revision
2 (3 ready pods), shared by the tests that only read it or put back what they change
(watch, drain); a test that changes the app for good (apply, rollout, patch, delete)
gets a namespace of its own (`fresh`). Outputs are compared with what Kubernetes prints:
headers, statuses, exit codes.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cluster_support import eventually, needs_root
from tests.e2e.kubectl_cluster import (
    KUBECTL_NEW,
    KubeCluster,
    kubectl_version,
    old_kubectl,
    private_cluster,
)

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root,
              pytest.mark.timeout(300)]

IMAGE = "minikube-py/busybox:1"
# The same local image under another reference: a real image change with no registry.
IMAGE_CHANGED = "docker.io/minikube-py/busybox:1"
TICKER = "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"


def manifest(ns: str, *, image: str = IMAGE, replicas: int = 2, extra_env: bool = True) -> str:
    env = [{"name": "MODE", "value": "one"}] + (
        [{"name": "EXTRA", "value": "two"}] if extra_env else [])
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "web-config", "namespace": ns}, "data": {"greeting": "hello"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                      "terminationGracePeriodSeconds": 1,
                      "containers": [
                          {"name": "main", "image": image, "command": ["sh", "-c", TICKER],
                           "env": env},
                          {"name": "side", "image": IMAGE,
                           "command": ["sh", "-c", "echo side-up; exec sleep 100000"]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
         "spec": {"selector": {"app": "web"},
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    ]
    return yaml.safe_dump_all(docs)


class Kubectl:
    """One kubectl binary bound to the cluster and to its own namespace."""

    def __init__(self, cluster: KubeCluster, binary: str, ns: str, tmp: Path) -> None:
        self.cluster, self.binary, self.ns, self.tmp = cluster, binary, ns, tmp
        self.version = kubectl_version(binary)

    def run(self, *args: str, ok: bool = True, stdin: str | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = self.cluster.kubectl(*args, binary=self.binary, stdin=stdin, timeout=timeout,
                                    env=env)
        if ok:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: exit {done.returncode}\n" \
                                         f"{done.stdout}\n{done.stderr}"
        return done

    def n(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run in this version's namespace (`run`'s keywords)."""
        return self.run("-n", self.ns, *args, **kwargs)

    def out(self, *args: str) -> str:
        return self.n(*args).stdout

    def json(self, *args: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.out(*args, "-o", "json"))
        return obj

    def write(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def pods(self) -> list[str]:
        """The app's pods that are not being deleted."""
        return [p["metadata"]["name"] for p in self.json("get", "pods", "-l", "app=web")["items"]
                if not p["metadata"].get("deletionTimestamp")]

    def rolled_out(self) -> None:
        self.n("rollout", "status", "deploy/web", "--timeout", "90s", timeout=100)

    def settled(self, replicas: int) -> None:
        """Rolled out, and no pod of the app left terminating."""
        self.rolled_out()
        eventually(lambda: len(self.json("get", "pods", "-l", "app=web")["items"]) == replicas,
                   60, f"{replicas} app pods, none terminating", interval=0.5)

    def deploy_app(self, replicas: int = 3) -> None:
        """The app at revision 2: app.yaml (2 replicas, env EXTRA), then app2.yaml (another
        image, `replicas`, EXTRA gone), rolled out; both files stay in `tmp`."""
        self.run("apply", "-f", self.write("app.yaml", manifest(self.ns)))
        self.rolled_out()
        self.run("apply", "-f", self.write("app2.yaml", manifest(
            self.ns, image=IMAGE_CHANGED, replicas=replicas, extra_env=False)))
        self.settled(replicas)


def header(text: str) -> list[str]:
    """The column names of kubectl's table output (split on runs of 2+ spaces)."""
    return re.split(r"\s{2,}", text.splitlines()[0].strip())


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[1:] if line.strip()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with private_cluster(tmp_path_factory.mktemp("kubectl")) as c:
        yield c


@pytest.fixture(scope="module", params=["newest", "oldest"])
def binary(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(which, path) of a kubectl to test with: the newest installed, and 1.20."""
    if request.param == "oldest":
        found, why = old_kubectl()
        if found is None:
            pytest.skip(f"kubectl 1.20 not available: {why}")
        return request.param, found
    if not os.path.exists(KUBECTL_NEW):
        pytest.skip(f"{KUBECTL_NEW} is not installed")
    return request.param, KUBECTL_NEW


def delete_namespace(cluster: KubeCluster, ns: str, *, wait: bool) -> None:
    cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", f"--wait={str(wait).lower()}",
                    timeout=120)


@pytest.fixture(scope="module")
def kc(binary: tuple[str, str], cluster: KubeCluster,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """This kubectl with the app at revision 2 (3 ready pods) in a namespace of the module."""
    which, path = binary
    k = Kubectl(cluster, path, f"kc-{which}", tmp_path_factory.mktemp("manifests"))
    try:
        k.deploy_app()
        yield k
    finally:
        cluster.kubectl("uncordon", cluster.node)
        delete_namespace(cluster, k.ns, wait=True)  # gone before the next version's pods come


@pytest.fixture
def fresh(binary: tuple[str, str], cluster: KubeCluster, tmp_path: Path) -> Iterator[Kubectl]:
    """This kubectl and a namespace name of the test's own (not created yet)."""
    which, path = binary
    k = Kubectl(cluster, path, f"kc-{which}-{uuid.uuid4().hex[:5]}", tmp_path)
    try:
        yield k
    finally:
        delete_namespace(cluster, k.ns, wait=False)


# -- apply ----------------------------------------------------------------------------------
def test_apply_creates_configures_exactly_the_change_and_is_unchanged(fresh: Kubectl) -> None:
    kc = fresh
    first = kc.run("apply", "-f", kc.write("app.yaml", manifest(kc.ns)))
    assert first.stdout.splitlines() == [
        f"namespace/{kc.ns} created", "configmap/web-config created",
        "deployment.apps/web created", "service/web created"]
    kc.rolled_out()

    changed = kc.write("app2.yaml", manifest(kc.ns, image=IMAGE_CHANGED, replicas=3,
                                             extra_env=False))
    second = kc.run("apply", "-f", changed)
    assert second.stdout.splitlines() == [
        f"namespace/{kc.ns} unchanged", "configmap/web-config unchanged",
        "deployment.apps/web configured", "service/web unchanged"]
    spec = kc.json("get", "deploy", "web")["spec"]
    main = spec["template"]["spec"]["containers"][0]
    assert spec["replicas"] == 3 and main["image"] == IMAGE_CHANGED
    assert main["env"] == [{"name": "MODE", "value": "one"}]  # EXTRA removed, MODE kept
    assert spec["template"]["spec"]["containers"][1]["image"] == IMAGE  # nothing else moved

    third = kc.run("apply", "-f", changed)
    assert [line.rsplit(" ", 1)[1] for line in third.stdout.splitlines()] == ["unchanged"] * 4
    kc.rolled_out()
    assert len(kc.pods()) == 3


def test_server_side_dry_run_changes_nothing(kc: Kubectl) -> None:
    before = kc.json("get", "deploy", "web")["metadata"]["resourceVersion"]
    diff = kc.n("diff", "-f", str(kc.tmp / "app.yaml"), ok=False)
    assert diff.returncode == 1, diff.stderr  # 1 = differences found
    assert "-  replicas: 3" in diff.stdout and "+  replicas: 2" in diff.stdout
    assert "+        - name: EXTRA" in diff.stdout
    dry = kc.run("apply", "--dry-run=server", "-f", str(kc.tmp / "app.yaml"))
    assert "deployment.apps/web configured (server dry run)" in dry.stdout
    after = kc.json("get", "deploy", "web")
    assert after["metadata"]["resourceVersion"] == before
    assert after["spec"]["replicas"] == 3


# -- get ------------------------------------------------------------------------------------
COLUMNS = {
    "po": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    "deploy": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    "rs": ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
    "svc": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    "ep": ["NAME", "ENDPOINTS", "AGE"],
    "cm": ["NAME", "DATA", "AGE"],
    "sa": ["NAME", "SECRETS", "AGE"],
    "ev": ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
}


@pytest.mark.parametrize("short", list(COLUMNS))
def test_get_by_short_name_prints_kubernetes_columns(kc: Kubectl, short: str) -> None:
    text = kc.out("get", short)
    assert header(text) == COLUMNS[short]
    assert rows(text), text


def test_get_rows_hold_live_values(kc: Kubectl) -> None:
    eventually(lambda: len(rows(kc.out("get", "po", "-l", "app=web"))) == 3, 30,
               "old pods gone", interval=0.5)
    pods = rows(kc.out("get", "po", "-l", "app=web"))
    assert len(pods) == 3 and all(r[1:4] == ["2/2", "Running", "0"] for r in pods), pods
    assert rows(kc.out("get", "deploy"))[0][:4] == ["web", "3/3", "3", "3"]
    svc = rows(kc.out("get", "svc"))[0]
    assert svc[:2] == ["web", "ClusterIP"] and svc[3:5] == ["<none>", "80/TCP"]
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", svc[2])
    endpoints = rows(kc.out("get", "ep"))[0][1].split(",")
    assert len(endpoints) == 3 and all(e.endswith(":8080") for e in endpoints)
    configmaps = {r[0]: r for r in rows(kc.out("get", "cm"))}  # beside kube-root-ca.crt
    assert configmaps["web-config"][:2] == ["web-config", "1"]


def test_get_cluster_scoped_nodes_and_namespaces(kc: Kubectl) -> None:
    nodes = kc.run("get", "no").stdout
    assert header(nodes) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows(nodes)[0][:3] == [kc.cluster.node, "Ready", "<none>"]
    namespaces = {r[0]: r[1] for r in rows(kc.run("get", "ns").stdout)}
    assert namespaces[kc.ns] == "Active" and namespaces["kube-system"] == "Active"


def test_get_wide_adds_the_wide_columns(kc: Kubectl) -> None:
    text = kc.out("get", "pods", "-l", "app=web", "-o", "wide")
    assert header(text) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                            "NOMINATED NODE", "READINESS GATES"]
    for row in rows(text):
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", row[5]) and row[6] == kc.cluster.node
    wide = header(kc.out("get", "deploy", "-o", "wide"))
    assert wide[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows(kc.out("get", "deploy", "-o", "wide"))[0][-3:] == [
        "main,side", f"{IMAGE_CHANGED},{IMAGE}", "app=web"]


def test_get_all_lists_every_kind_of_the_category(kc: Kubectl) -> None:
    text = kc.out("get", "all")
    for prefix in ("pod/web-", "service/web", "deployment.apps/web", "replicaset.apps/web-"):
        assert prefix in text, text


def test_get_yaml_json_and_jsonpath(kc: Kubectl) -> None:
    doc = yaml.safe_load(kc.out("get", "cm", "web-config", "-o", "yaml"))
    assert doc["kind"] == "ConfigMap" and doc["data"] == {"greeting": "hello"}
    listed = kc.json("get", "pods", "-l", "app=web")
    assert listed["kind"] == "List" and len(listed["items"]) == 3
    assert {p["kind"] for p in listed["items"]} == {"Pod"}
    phases = kc.out("get", "pods", "-o",
                    "jsonpath={range .items[*]}{.metadata.name}={.status.phase}{'\\n'}{end}")
    assert sorted(phases.split()) == sorted(f"{p}=Running" for p in kc.pods())


def test_get_all_namespaces_selector_labels_and_sort(kc: Kubectl) -> None:
    everywhere = kc.run("get", "pods", "-A", "-l", "app=web").stdout
    assert header(everywhere)[:2] == ["NAMESPACE", "NAME"]
    assert {r[0] for r in rows(everywhere)} >= {kc.ns}
    assert kc.n("get", "pods", "-l", "app=nothing", ok=False).stderr.strip() \
        == f"No resources found in {kc.ns} namespace."
    labelled = kc.out("get", "deploy", "--show-labels")
    assert header(labelled)[-1] == "LABELS" and rows(labelled)[0][-1] == "app=web"
    # The server lists in key order, so by name bytewise (as Kubernetes' etcd3 store does).
    listed = [r[0] for r in rows(kc.out("get", "pods", "-l", "app=web"))]
    assert listed == sorted(listed) and len(listed) == 3
    # --sort-by sorts in kubectl, each version its own way: 1.20 naturally (digit runs as
    # numbers: web-x-8kxcf before web-x-575bv), newer ones bytewise. Either is a sort.
    names = [r[0] for r in rows(kc.out("get", "pods", "-l", "app=web",
                                       "--sort-by", ".metadata.name"))]
    assert names in (sorted(names), sorted(names, key=natural)) and sorted(names) == listed
    by_age = [r[0] for r in rows(kc.out("get", "rs", "--sort-by", ".metadata.creationTimestamp"))]
    newest = kc.json("get", "deploy", "web")["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"]
    assert len(by_age) == 2 and newest == "2"


def test_watch_prints_changes_until_interrupted(kc: Kubectl) -> None:
    watch = kc.cluster.popen("-n", kc.ns, "get", "deploy", "web", "-w", binary=kc.binary)
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.split()[0] == "NAME"
        assert watch.stdout.readline().split()[:2] == ["web", "3/3"]
        scaled_at = time.strftime("%H:%M:%S", time.gmtime())
        kc.n("scale", "deploy", "web", "--replicas", "2")
        lines: list[str] = []
        while not lines or lines[-1].split()[1] != "2/2":
            ready, _, _ = select.select([watch.stdout], [], [], 30)
            # On a timeout, say whether the status never changed or the watch missed it:
            # the status writer's managedFields time is when the status was last written.
            assert ready, (f"no watch line within 30 s; got {lines}; scaled at {scaled_at}Z; "
                           "the deployment now: " + kc.n("get", "deploy,rs", "-o", "wide").stdout
                           + kc.out("get", "deploy", "web", "-o", "jsonpath={.metadata."
                                    "resourceVersion} {range .metadata.managedFields[*]}"
                                    "{.manager}/{.subresource} {.time} {end}"))
            lines.append(watch.stdout.readline())
        assert watch.poll() is None  # still watching
    finally:
        os.killpg(watch.pid, signal.SIGINT)
        watch.wait(timeout=10)
        watch.stdout.close()  # type: ignore[union-attr]  # piped
        watch.stderr.close()  # type: ignore[union-attr]  # piped
        kc.n("scale", "deploy", "web", "--replicas", "3")  # the app as the other tests read it
        kc.settled(3)
    assert watch.returncode is not None


# -- describe -------------------------------------------------------------------------------
def natural(text: str) -> list[tuple[int, int, str]]:
    """A sort key ordering digit runs by their value, as kubectl 1.20's --sort-by does."""
    return [(0, int(run), "") if run.isdigit() else (1, 0, run)
            for run in re.findall(r"\d+|\D+", text)]


def events_section(text: str) -> list[str]:
    """The event rows of a `kubectl describe` (empty when it says <none>)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Events:"))
    if "<none>" in lines[start]:
        return []
    return [line.strip() for line in lines[start + 3:] if line.strip()]


def test_describe_pod_deployment_replicaset_with_events(kc: Kubectl) -> None:
    pod = kc.pods()[0]
    text = kc.out("describe", "pod", pod)
    assert re.search(rf"^Name:\s+{pod}$", text, re.MULTILINE) and re.search(r"^Status:\s+Running$",
                                                                     text, re.MULTILINE)
    assert re.search(rf"^Node:\s+{kc.cluster.node}/", text, re.MULTILINE)
    reasons = [line.split()[1] for line in events_section(text)]
    assert "Scheduled" in reasons and "Started" in reasons, text

    deploy = kc.out("describe", "deployment", "web")
    assert re.search(r"^Replicas:\s+(\d) desired \| \1 updated \| \1 total \| \1 available", deploy,
                     re.MULTILINE), deploy
    assert any("ScalingReplicaSet" in e for e in events_section(deploy)), deploy

    rs_name = kc.out("get", "rs", "--sort-by", ".metadata.creationTimestamp", "-o",
                     "jsonpath={.items[-1:].metadata.name}")
    rs = kc.out("describe", "rs", rs_name)
    assert re.search(r"^Controlled By:\s+Deployment/web$", rs, re.MULTILINE)
    assert any("SuccessfulCreate" in e for e in events_section(rs)), rs


def test_describe_service_and_node(kc: Kubectl) -> None:
    svc = kc.out("describe", "svc", "web")
    assert re.search(r"^Selector:\s+app=web$", svc, re.MULTILINE)
    assert re.search(r"^TargetPort:\s+8080/TCP$", svc, re.MULTILINE)
    assert re.search(r"^Events:\s+<none>$", svc, re.MULTILINE)  # a ClusterIP Service has none
    node = kc.run("describe", "node", kc.cluster.node).stdout
    assert re.search(r"^\s+Ready\s+True\s", node, re.MULTILINE), node
    assert re.search(rf"^\s+{kc.ns}\s+web-", node, re.MULTILINE)  # its pods under Non-terminated Pods
    reasons = {line.split()[1] for line in events_section(node)}
    assert {"Starting", "NodeReady"} <= reasons, node


def test_describe_service_lists_its_endpoints(kc: Kubectl) -> None:
    """kubectl >= 1.28 reads EndpointSlices here, older ones Endpoints: both must agree."""
    def listed() -> bool:  # the Endpoints controller may still be catching up
        ips = {p["status"]["podIP"] for p in kc.json("get", "pods", "-l", "app=web")["items"]
               if not p["metadata"].get("deletionTimestamp")}
        line = re.search(r"^Endpoints:\s+(.*)$", kc.out("describe", "svc", "web"),
                         re.MULTILINE)
        assert line, "no Endpoints line"
        shown = re.findall(r"(\d+\.\d+\.\d+\.\d+):8080", line.group(1))
        more = re.search(r"\+ (\d+) more", line.group(1))  # kubectl lists a few, then counts
        return set(shown) <= ips and len(shown) + (int(more.group(1)) if more else 0) == len(ips)
    eventually(listed, 15, "describe svc lists every ready pod", interval=0.5)
    sliced = kc.out("get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    assert header(sliced) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert [r[:3] for r in rows(sliced)] == [["web-mkp", "IPv4", "8080"]]


# -- logs and exec --------------------------------------------------------------------------
def test_logs_of_pod_deployment_container_tail_and_timestamps(kc: Kubectl) -> None:
    pod = kc.pods()[0]
    assert kc.out("logs", pod, "-c", "main").startswith("started\ntick 0\n")
    assert kc.out("logs", pod, "-c", "side") == "side-up\n"
    assert kc.out("logs", "deployment/web", "-c", "side") == "side-up\n"
    eventually(lambda: kc.out("logs", pod, "-c", "main").count("tick ") >= 2, timeout=10,
               what="two ticks logged")  # so the last two lines are ticks, in any test order
    tail = kc.out("logs", pod, "-c", "main", "--tail", "2").splitlines()
    assert len(tail) == 2 and all(t.startswith("tick ") for t in tail)
    stamped = kc.out("logs", pod, "-c", "main", "--tail", "1", "--timestamps")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n", stamped), stamped
    missing = kc.n("logs", pod, "-c", "nope", ok=False)
    assert missing.returncode == 1 and "nope" in missing.stderr


def test_logs_by_label_with_prefix_and_field_selector_columns(kc: Kubectl) -> None:
    eventually(lambda: len(rows(kc.out("get", "po", "-l", "app=web"))) == len(kc.pods()), 30,
               "no pod terminating", interval=0.5)
    pods = sorted(kc.pods())
    prefixed = kc.out("logs", "-l", "app=web", "-c", "side", "--prefix").splitlines()
    assert sorted(prefixed) == [f"[pod/{p}/side] side-up" for p in pods]
    custom = kc.out("get", "pods", "--field-selector", "status.phase=Running", "-l", "app=web",
                    "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName")
    assert header(custom) == ["NAME", "NODE"]
    assert sorted(rows(custom)) == [[p, kc.cluster.node] for p in pods]


def test_logs_follow_streams_new_lines(kc: Kubectl) -> None:
    follow = kc.cluster.popen("-n", kc.ns, "logs", "-f", kc.pods()[0], "-c", "main",
                              "--tail", "1", binary=kc.binary)
    try:
        assert follow.stdout is not None
        seen: list[int] = []
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            if select.select([follow.stdout], [], [], 5)[0]:
                seen.append(int(follow.stdout.readline().split()[1]))
        assert len(seen) == 3 and seen == sorted(seen) and seen[-1] >= seen[0] + 2, seen
    finally:
        os.killpg(follow.pid, signal.SIGTERM)
        follow.wait(timeout=10)
        follow.stdout.close()  # type: ignore[union-attr]  # piped
        follow.stderr.close()  # type: ignore[union-attr]  # piped


def test_logs_previous_of_a_restarted_container(kc: Kubectl) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"}, "spec": {
        "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": IMAGE,
            "command": ["sh", "-c", "echo run-$RANDOM; sleep 1; exit 3"]}]}}
    kc.n("apply", "-f", kc.write("crasher.yaml", yaml.safe_dump(pod)))
    try:
        eventually(lambda: kc.out("get", "pod", "crasher", "-o",
                                  "jsonpath={.status.containerStatuses[0].restartCount}")
                   not in ("", "0"), 40, "crasher restarted", interval=1)
        previous = kc.out("logs", "crasher", "--previous")
        assert re.fullmatch(r"run-\d+\n", previous), previous
        status = kc.json("get", "pod", "crasher")["status"]["containerStatuses"][0]
        assert status["lastState"]["terminated"]["exitCode"] == 3
    finally:
        kc.n("delete", "pod", "crasher", "--timeout=60s", ok=False, timeout=70)


def test_exec_with_piped_stdin_returns_the_remote_exit_code(kc: Kubectl) -> None:
    pod = kc.pods()[0]
    done = kc.n("exec", "-i", pod, "-c", "main", "--", "sh", "-c",
                "cat; echo out; echo err >&2; exit 7", stdin="piped-in\n", ok=False)
    assert done.returncode == 7, done.stderr
    assert done.stdout == "piped-in\nout\n"
    assert done.stderr.startswith("err\n") and "command terminated with exit code 7" in done.stderr
    assert kc.n("exec", pod, "-c", "side", "--", "cat", "/proc/1/cmdline").stdout \
        .startswith("sleep")
    assert kc.n("exec", pod, "-c", "main", "--", "false", ok=False).returncode == 1
    missing = kc.n("exec", pod, "-c", "main", "--", "/no/such/binary", ok=False)
    assert missing.returncode != 0


def test_exec_interactive_tty(kc: Kubectl) -> None:
    master, slave = pty.openpty()
    proc = kc.cluster.popen("-n", kc.ns, "exec", "-it", kc.pods()[0], "-c", "main", "--", "sh",
                            binary=kc.binary, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    output = b""
    try:
        os.write(master, b"echo answer=$((6*7)); tty; exit 5\n")
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    output += os.read(master, 4096)
                except OSError:  # EIO: the pty's other side closed
                    break
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    text = output.decode(errors="replace")
    assert "answer=42" in text and "/dev/pts/" in text, text
    assert proc.returncode == 5, text


def test_port_forward_reaches_the_pod(kc: Kubectl) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pf"}, "spec": {
        "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "http", "image": IMAGE, "command": [
                "sh", "-c",
                "mkdir -p /www && echo pf-ok > /www/index.html && exec httpd -f -p 8080 -h /www",
            ]}]}}
    kc.n("apply", "-f", kc.write("pf.yaml", yaml.safe_dump(pod)))
    forward = None
    try:
        kc.n("wait", "--for=condition=Ready", "pod/pf", "--timeout=60s", timeout=70)
        forward = kc.cluster.popen("-n", kc.ns, "port-forward", "pod/pf", ":8080",
                                   binary=kc.binary)
        assert forward.stdout is not None
        assert select.select([forward.stdout], [], [], 20)[0], "port-forward printed nothing"
        line = forward.stdout.readline()
        match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
        assert match, line
        for _ in range(2):  # each connection is its own stream pair
            with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/", timeout=10) as r:
                assert r.read() == b"pf-ok\n"
    finally:
        if forward is not None:
            os.killpg(forward.pid, signal.SIGTERM)
            forward.wait(timeout=10)
            forward.stdout.close()  # type: ignore[union-attr]  # piped
            forward.stderr.close()  # type: ignore[union-attr]  # piped
        kc.n("delete", "pod", "pf", "--timeout=60s", ok=False, timeout=70)


def test_create_commands(fresh: Kubectl) -> None:
    """`kubectl create <kind>` builds typed objects (protobuf bodies from newer kubectl)."""
    kc = fresh
    assert kc.run("create", "namespace", kc.ns).stdout == f"namespace/{kc.ns} created\n"
    try:
        _create_commands(kc)
    finally:
        delete_namespace(kc.cluster, f"{kc.ns}-x", wait=False)


def _create_commands(kc: Kubectl) -> None:
    assert kc.out("create", "configmap", "made", "--from-literal", "k=v") \
        == "configmap/made created\n"
    assert kc.out("create", "serviceaccount", "robot") == "serviceaccount/robot created\n"
    assert kc.out("create", "secret", "generic", "pw", "--from-literal", "p=s3cr3t") \
        == "secret/pw created\n"
    assert kc.out("create", "deployment", "made", f"--image={IMAGE}", "--replicas=0",
                  "--port=8080", "--", "sleep", "9") == "deployment.apps/made created\n"
    assert kc.out("create", "service", "nodeport", "made", "--tcp=80:8080") \
        == "service/made created\n"
    assert kc.out("create", "namespace", f"{kc.ns}-x") == f"namespace/{kc.ns}-x created\n"
    assert kc.json("get", "secret", "pw")["data"] == {"p": "czNjcjN0"}
    assert kc.json("get", "cm", "made")["data"] == {"k": "v"}
    made = kc.json("get", "deploy", "made")
    assert made["spec"]["replicas"] == 0
    assert made["spec"]["selector"] == {"matchLabels": {"app": "made"}}
    container = made["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["command"]) == (
        "busybox", IMAGE, ["sleep", "9"])
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    svc = kc.json("get", "svc", "made")["spec"]
    assert svc["type"] == "NodePort" and svc["selector"] == {"app": "made"}
    assert svc["ports"][0]["port"] == 80 and svc["ports"][0]["targetPort"] == 8080
    assert 30000 <= svc["ports"][0]["nodePort"] <= 32767
    again = kc.n("create", "configmap", "made", ok=False)
    assert again.returncode == 1
    assert 'configmaps "made" already exists' in again.stderr
    kc.n("delete", "deployment/made", "configmap/made", "serviceaccount/robot", "secret/pw",
         "service/made")


# -- scale, rollout -------------------------------------------------------------------------
def test_scale_and_rollout_status_history_restart_undo(fresh: Kubectl) -> None:
    kc = fresh
    kc.deploy_app(replicas=2)
    assert kc.out("scale", "deploy", "web", "--replicas", "1") == "deployment.apps/web scaled\n"
    kc.rolled_out()
    eventually(lambda: len(kc.pods()) == 1, 30, "one pod left", interval=0.5)
    history = kc.out("rollout", "history", "deploy/web")
    assert header("\n".join(history.splitlines()[1:])) == ["REVISION", "CHANGE-CAUSE"]
    assert [r[0] for r in rows("\n".join(history.splitlines()[1:]))] == ["1", "2"]

    assert kc.out("rollout", "restart", "deploy/web") == "deployment.apps/web restarted\n"
    status = kc.n("rollout", "status", "deploy/web", "--timeout", "90s", timeout=100).stdout
    assert status.splitlines()[-1] == 'deployment "web" successfully rolled out'
    template = kc.json("get", "deploy", "web")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]

    assert kc.out("rollout", "undo", "deploy/web") == "deployment.apps/web rolled back\n"
    kc.rolled_out()
    template = kc.json("get", "deploy", "web")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" not in (
        template["metadata"].get("annotations") or {})
    revisions = [r[0] for r in rows("\n".join(
        kc.out("rollout", "history", "deploy/web").splitlines()[1:]))]
    assert revisions == ["1", "3", "4"]  # undo made revision 2's template revision 4


def test_rollout_pause_and_resume(fresh: Kubectl) -> None:
    kc = fresh
    kc.deploy_app(replicas=1)
    assert kc.out("rollout", "pause", "deploy/web") == "deployment.apps/web paused\n"
    assert kc.json("get", "deploy", "web")["spec"]["paused"] is True
    kc.n("set", "env", "deploy/web", "-c", "main", "PAUSED=yes")
    time.sleep(1.5)  # a paused Deployment must not roll: no new ReplicaSet
    assert len(rows(kc.out("get", "rs"))) == 2
    assert kc.out("rollout", "resume", "deploy/web") == "deployment.apps/web resumed\n"
    kc.rolled_out()
    assert len(rows(kc.out("get", "rs"))) == 3


# -- label, annotate, patch, edit ----------------------------------------------------------
def test_label_annotate_patch_and_edit(fresh: Kubectl) -> None:
    kc = fresh
    kc.run("apply", "-f", kc.write("app.yaml", manifest(kc.ns, replicas=0)))
    assert kc.out("label", "deploy", "web", "tier=front") == "deployment.apps/web labeled\n"
    assert kc.out("annotate", "deploy", "web", "note=hi") == "deployment.apps/web annotated\n"
    meta = kc.json("get", "deploy", "web")["metadata"]
    assert meta["labels"]["tier"] == "front" and meta["annotations"]["note"] == "hi"
    clash = kc.n("label", "deploy", "web", "tier=back", ok=False)
    assert clash.returncode == 1 and "--overwrite is false" in clash.stderr
    kc.n("label", "deploy", "web", "tier-")
    assert "tier" not in kc.json("get", "deploy", "web")["metadata"]["labels"]

    assert kc.out("patch", "cm", "web-config", "-p", '{"data":{"extra":"1"}}') \
        == "configmap/web-config patched\n"
    kc.n("patch", "cm", "web-config", "--type", "json", "-p",
         '[{"op":"replace","path":"/data/greeting","value":"patched"}]')
    assert kc.json("get", "cm", "web-config")["data"] == {"greeting": "patched", "extra": "1"}
    bad = kc.n("patch", "cm", "web-config", "--type", "json", "-p", '[{"op":"nope"}]', ok=False)
    assert bad.returncode == 1 and "Error from server" in bad.stderr

    edited = kc.n("edit", "cm", "web-config",
                  env={"EDITOR": "sed -i -e s/greeting:\\ patched/greeting:\\ edited/"})
    assert edited.stdout == "configmap/web-config edited\n"
    assert kc.json("get", "cm", "web-config")["data"]["greeting"] == "edited"


# -- node maintenance -----------------------------------------------------------------------
def test_cordon_drain_uncordon(kc: Kubectl) -> None:
    node = kc.cluster.node
    assert kc.run("cordon", node).stdout == f"node/{node} cordoned\n"
    try:
        assert rows(kc.run("get", "no", node).stdout)[0][1] == "Ready,SchedulingDisabled"
        before = set(kc.pods())
        drained = kc.run("drain", node, "--ignore-daemonsets", "--force", "--timeout", "60s",
                         timeout=90)
        # kubectl < 1.2x re-uses the pods' printer for the node line ("evicted"/"deleted").
        assert drained.stdout.splitlines()[-1] in (
            f"node/{node} drained", f"node/{node} evicted", f"node/{node} deleted")
        for pod in before:
            assert f"pod/{pod} " in drained.stdout + "\n"
        # The Deployment replaces them, but nothing may land on the cordoned node.
        eventually(lambda: (set(kc.pods()) - before) and all(
            r[2] == "Pending" for r in rows(kc.out("get", "po", "-l", "app=web"))), 30,
            "replacement pods Pending", interval=0.5)
        assert kc.run("uncordon", node).stdout == f"node/{node} uncordoned\n"
    finally:
        kc.run("uncordon", node, ok=False)
        kc.settled(3)  # the app as the other tests read it


# -- discovery and explain ----------------------------------------------------------------
def test_api_resources_and_explain(kc: Kubectl) -> None:
    text = kc.run("api-resources", "-o", "wide").stdout
    table = {r[0]: r for r in rows(text)}
    assert table["pods"][1] == "po" and table["deployments"][1] == "deploy"
    assert table["deployments"][2] == "apps/v1"
    assert table["endpointslices"][1] == "discovery.k8s.io/v1"
    if "CATEGORIES" in header(text):  # kubectl >= 1.21 prints them
        assert "all" in table["pods"][-1] and "all" in table["services"][-1]
    assert "nodes" in kc.run("api-resources", "--namespaced=false", "-o", "name").stdout
    explained = kc.run("explain", "deployment.spec.replicas").stdout
    assert re.search(r"^FIELD:\s+replicas\s+<integer>", explained, re.MULTILINE), explained
    assert "Number of desired pods" in explained


# -- delete ---------------------------------------------------------------------------------
def test_delete_f_waits_until_everything_is_gone(fresh: Kubectl) -> None:
    kc = fresh
    kc.run("apply", "-f", kc.write("app.yaml", manifest(kc.ns, replicas=1)))
    kc.rolled_out()
    # Namespace last: deleted first, its controller could remove the rest before kubectl.
    docs = list(yaml.safe_load_all((kc.tmp / "app.yaml").read_text()))[::-1]
    done = kc.run("delete", "-f", kc.write("app-rev.yaml", yaml.safe_dump_all(docs)),
                  timeout=120)
    assert done.stdout.splitlines() == [
        'service "web" deleted', 'deployment.apps "web" deleted',
        'configmap "web-config" deleted', f'namespace "{kc.ns}" deleted']
    gone = kc.run("get", "ns", kc.ns, ok=False)
    assert gone.returncode == 1
    assert f'namespaces "{kc.ns}" not found' in gone.stderr
