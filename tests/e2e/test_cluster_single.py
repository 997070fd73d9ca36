"""`minikube-py up` / `status` / `down` on this host, end to end (real everything).

One cluster for the module, under a temporary --root. The tests run in random order, so
a test that stops the cluster (kills its supervisor, takes it down) uses `stops_cluster`,
which brings it back with `up`: every other test finds it running, whatever ran before.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import pytest

from minikube_py.api.resources import NODES, PODS
from minikube_py.cluster import kubeconfigs, sample_app
from minikube_py.cluster.health import node_ready
from minikube_py.cluster.teardown import POD_BRIDGE
from tests.e2e.cluster_support import (
    api,
    app_container,
    docker_client,
    eventually,
    free_port,
    host_leftovers,
    in_pod,
    mkp,
    needs_root,
    skip_if_other_cluster,
)

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root,
              pytest.mark.timeout(600)]

COMPONENTS = ("apiserver", "scheduler", "controller-manager", "dns", "metrics-server", "agent")


class Cluster:
    up_result: subprocess.CompletedProcess[str]  # the module's `up`, set by the fixture
    up_seconds: float

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.admin = root / "etc" / "admin.conf"

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return mkp(*args, "--root", str(self.root), timeout=timeout)

    def status_file(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads((self.root / "state" / "status.json").read_text())
        return status

    def node(self) -> str:
        cluster = json.loads((self.root / "state" / "cluster.json").read_text())
        return str(cluster["nodes"][0]["name"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("mkp-single"), free_port())
    started = time.monotonic()
    up = c.cli("up", "--api-port", str(c.port), "--no-install", "--timeout", "150")
    skip_if_other_cluster(up)
    c.up_result, c.up_seconds = up, time.monotonic() - started
    try:
        yield c
    finally:
        c.cli("down", "--purge")


@pytest.fixture
def stops_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """The shared cluster, for a test that stops it: `up` restarts it afterwards."""
    yield cluster
    up = cluster.cli("up", "--api-port", str(cluster.port), "--no-install", "--timeout", "150")
    assert up.returncode == 0 and "cluster ready" in up.stdout, up.stdout + up.stderr


def test_up_brings_a_ready_node(cluster: Cluster) -> None:
    up = cluster.up_result
    assert up.returncode == 0, up.stdout + up.stderr
    assert "cluster ready" in up.stdout and f"KUBECONFIG={cluster.admin}" in up.stdout
    assert "api-server ready" in up.stdout  # progress was shown
    assert oct(cluster.admin.stat().st_mode & 0o777) == "0o600"
    nodes = api(cluster.admin, lambda c: c.list(NODES))["items"]
    assert [n["metadata"]["name"] for n in nodes] == [cluster.node()]
    assert node_ready(nodes[0])


def test_each_component_is_its_own_process_with_a_log(cluster: Cluster) -> None:
    status = cluster.status_file()["components"]
    for name in COMPONENTS:
        pid = status[name]["pid"]
        assert f"minikube-py {name} " in " ".join(psutil.Process(pid).cmdline())  # as in ps
        assert (cluster.root / "log" / f"{name}.log").stat().st_size > 0


def test_kubectl_top_nodes(cluster: Cluster) -> None:
    """The metrics server `up` runs answers through the api-server's aggregation."""
    def top() -> subprocess.CompletedProcess[str] | None:
        got = subprocess.run(["kubectl", "--kubeconfig", str(cluster.admin), "top", "nodes",
                              "--no-headers"], capture_output=True, text=True, timeout=30,
                             check=False)
        return got if got.returncode == 0 and cluster.node() in got.stdout else None
    row = eventually(top, 60, "kubectl top nodes").stdout.split()
    assert row[0] == cluster.node() and row[1].endswith("m") and row[3].endswith(("Mi", "Gi"))


def test_second_up_reports_the_running_cluster_within_seconds(cluster: Cluster) -> None:
    started = time.monotonic()
    again = cluster.cli("up", "--api-port", str(cluster.port), "--no-install")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert time.monotonic() - started < 5


def test_status_is_healthy(cluster: Cluster) -> None:
    status = cluster.cli("status")
    assert status.returncode == 0, status.stdout
    for name in (*COMPONENTS, "api-server /readyz", f"node {cluster.node()}",
                 "scheduler lease", "controller-manager lease"):
        assert any(line.split()[0] == "OK" and name in line for line in status.stdout.splitlines()), \
            status.stdout


def test_a_crashed_component_is_restarted(cluster: Cluster) -> None:
    before = cluster.status_file()["components"]["scheduler"]
    os.kill(before["pid"], signal.SIGKILL)
    after = eventually(lambda: (s := cluster.status_file()["components"]["scheduler"])["state"]
                       == "running" and s["pid"] != before["pid"] and s,
                       timeout=20, what="scheduler restarted")
    assert after["restarts"] == before["restarts"] + 1


def test_lab_up_is_refused_while_this_cluster_runs(cluster: Cluster) -> None:
    lab = cluster.cli("lab", "up", "--nodes", "2", "--no-install")
    assert lab.returncode == 1
    assert "single-node cluster is running" in lab.stderr and "Traceback" not in lab.stderr


def test_sample_app_answers_from_all_three_pods(cluster: Cluster) -> None:
    run = cluster.cli("up", "--api-port", str(cluster.port), "--no-install", "--sample-app")
    assert run.returncode == 0, run.stdout + run.stderr
    replies = {line.split("-> ")[1] for line in run.stdout.splitlines() if "-> hello from" in line}
    assert len(replies) == 3, run.stdout
    by_name = [line for line in run.stdout.splitlines() if "by Service name" in line]
    assert len(by_name) == 1 and "-> hello from hello-" in by_name[0], run.stdout


def test_pods_resolve_services_by_name(cluster: Cluster) -> None:
    """Cluster DNS from a pod: kube-dns answers, search paths apply, unknown is NXDOMAIN,
    names outside the cluster go upstream (a reply or a clean failure, never a hang)."""
    with sleeping_pod(cluster, "dns") as pod:
        dc = docker_client()
        try:
            uid = pod["metadata"]["uid"]
            conf = in_pod(dc, uid, "cat /etc/resolv.conf")
            assert "nameserver 10.96.0.10" in conf and "default.svc.cluster.local" in conf
            # busybox's nslookup ignores search paths: full names there, short ones through
            # the C library's resolver (nc), which applies them as every pod's programs do
            out = eventually(lambda: _nslookup(dc, uid, "kubernetes.default.svc.cluster.local"),
                             timeout=30, what="kubernetes.default resolved in the pod")
            assert "10.96.0.1" in out
            assert "10.96.0.10" in in_pod(dc, uid,
                                          "nslookup kube-dns.kube-system.svc.cluster.local")
            in_pod(dc, uid, "nc -w 3 kubernetes.default 443 </dev/null")  # connects by name
            code, _ = app_container(dc, uid).exec_run(
                ["nslookup", "nope.default.svc.cluster.local"])
            assert code != 0
            started = time.monotonic()
            app_container(dc, uid).exec_run(["nslookup", "example.com"])
            assert time.monotonic() - started < 15  # answered or SERVFAIL, not hung
        finally:
            dc.close()


@contextlib.contextmanager
def sleeping_pod(cluster: Cluster, prefix: str) -> Iterator[dict[str, Any]]:
    """A running busybox pod in `default` (the node-local image), deleted afterwards."""
    sample_app.ensure_image()
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    api(cluster.admin, lambda c: c.create(PODS, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [
            {"name": "main", "image": sample_app.IMAGE, "imagePullPolicy": "Never",
             "command": ["sleep", "3600"]}]}}, "default"))
    try:
        yield eventually(lambda: (p := api(cluster.admin, lambda c: c.get(
            PODS, name, namespace="default")))["status"].get("phase") == "Running" and p,
            timeout=60, what=f"pod {name} running")
    finally:
        api(cluster.admin, lambda c: c.delete(PODS, name, "default"))


def _nslookup(dc: docker.DockerClient, uid: str, host: str) -> str | None:
    code, out = app_container(dc, uid).exec_run(["nslookup", host])
    return out.decode(errors="replace") if code == 0 else None


def test_a_pod_gets_a_working_service_account_token_through_node_credentials(
        cluster: Cluster) -> None:
    """The agent runs with its node's own credential, which may ask tokens only for its own
    pods: the pod's projected token (bound to it, from TokenRequest) must be mounted, and
    work for what RBAC gives every service account (discovery) and no more (no Secrets)."""
    with sleeping_pod(cluster, "sa") as pod:
        dc = docker_client()
        try:
            token = in_pod(dc, pod["metadata"]["uid"],
                           "cat /var/run/secrets/kubernetes.io/serviceaccount/token")
        finally:
            dc.close()
        context = ssl.create_default_context(
            cadata=kubeconfigs.ca_data(kubeconfigs.load(cluster.admin)).decode())

        def get(path: str) -> int:
            request = urllib.request.Request(f"https://127.0.0.1:{cluster.port}{path}",
                                             headers={"Authorization": f"Bearer {token.strip()}"})
            try:
                with urllib.request.urlopen(request, context=context, timeout=10) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as e:
                return int(e.code)
        assert get("/apis") == 200
        assert get("/api/v1/secrets") == 403


def test_status_fails_when_components_are_down(stops_cluster: Cluster) -> None:
    cluster = stops_cluster
    supervisor = int((cluster.root / "state" / "supervisor.pid").read_text())
    os.kill(supervisor, signal.SIGKILL)  # its children get SIGTERM (PR_SET_PDEATHSIG)
    eventually(lambda: not any(psutil.pid_exists(c["pid"]) and psutil.Process(c["pid"]).status()
                               != psutil.STATUS_ZOMBIE
                               for c in cluster.status_file()["components"].values() if c["pid"]),
               timeout=30, what="components gone with their supervisor")
    status = cluster.cli("status")
    assert status.returncode == 1
    assert "DOWN  supervisor" in status.stdout


def test_down_leaves_the_host_as_it_was(stops_cluster: Cluster) -> None:
    cluster = stops_cluster
    node = cluster.node()
    down = cluster.cli("down", "--purge")
    assert down.returncode == 0, down.stdout + down.stderr
    assert host_leftovers(cluster.root, [node], [POD_BRIDGE, "mkp.vxlan"]) == []
    assert not (cluster.root / "state").exists() and not cluster.admin.exists()
