"""Shared by the cluster e2e tests: run the CLI, talk to the cluster, inspect the host.

Every cluster made by a test lives under its own `--root` directory, so a person's own
cluster (under /var/lib/minikube-py) is never touched; the host-wide one-cluster rule makes
the tests skip, not fail, while such a cluster runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import psutil
import pytest

from agent.kubelet import labels, subpath
from minikube_py.client import ApiClient
from minikube_py.cluster.lab import LabSpec, host_veth

T = TypeVar("T")
EXE = str(Path(sys.executable).with_name("minikube-py"))

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="clusters need root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mkp(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `minikube-py ARGS` and return what it did (never raises on a non-zero exit)."""
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def skip_if_other_cluster(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0 and "one cluster per host" in result.stderr:
        pytest.skip(f"another cluster runs on this host: {result.stderr.strip()}")


def trace(root: Path, *args: str) -> dict[str, Any]:
    """`minikube-py trace ARGS -o json` against the cluster under `root`, parsed."""
    result = mkp("trace", "--root", str(root), *args, "-o", "json", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def api(kubeconfig: Path, fn: Callable[[ApiClient], Awaitable[T]]) -> T:
    """Run `fn(client)` against the cluster from a synchronous test."""
    async def go() -> T:
        async with ApiClient.from_kubeconfig(kubeconfig) as client:
            return await fn(client)
    return asyncio.run(go())


def eventually(check: Callable[[], T | None], timeout: float, what: str,
               interval: float = 1.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} not reached after {timeout:.0f} s; last: {last!r}")


def docker_client() -> docker.DockerClient:
    return docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=60)


def app_container(dc: docker.DockerClient, pod_uid: str) -> Any:
    """The running app container of a pod (the e2e workloads have one container)."""
    found = dc.containers.list(filters={"label": [f"{labels.POD_UID}={pod_uid}",
                                                  f"{labels.KIND}={labels.APP}"]})
    assert len(found) == 1, f"pod {pod_uid}: {len(found)} running app containers"
    return found[0]


def in_pod(dc: docker.DockerClient, pod_uid: str, script: str) -> str:
    """Run a shell script inside the pod's network namespace (its app container)."""
    code, out = app_container(dc, pod_uid).exec_run(["sh", "-c", script])
    text = str(out.decode(errors="replace"))
    assert code == 0, f"exit {code}: {text}"
    return text


def http_get(host: str, port: int, times: int = 1) -> str:
    """A shell loop printing the body's last line of `times` GETs, each a new connection.
    (busybox `wget` segfaults in the node-local image; `nc` does not.)"""
    one = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | tail -n 1"
    return f"for i in $(seq {times}); do {one}; done"


def host_leftovers(root: Path, nodes: list[str], links: list[str]) -> list[str]:
    """Everything of a cluster still on the host: must be [] after `down`."""
    found: list[str] = []
    dc = docker_client()
    try:
        for n in nodes:
            found += [f"container {c.name}" for c in
                      dc.containers.list(all=True, filters={"label": f"{labels.NODE}={n}"})]
    finally:
        dc.close()
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [f"netns {n}" for n in nodes if n in ns.split()]
    for link in links:
        if subprocess.run(["ip", "link", "show", link], capture_output=True, check=False).returncode == 0:
            found.append(f"link {link}")
    for tool in ("iptables-save", "iptables-legacy-save"):
        dump = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        found += [f"{tool}: {line}" for line in dump.splitlines()
                  if line.startswith((":KUBE-", ":MKP-"))]
    marker = str(root)
    # Agents share the host's mount namespace (a lab's too): their tmpfs emptyDirs and
    # pinned subPaths are the host's mounts until `down` unmounts them.
    found += [f"mount {point}" for point in subpath.mounted_under(root)]
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(
                marker in arg for arg in proc.info["cmdline"] or []):
            found.append(f"process {proc.pid} {' '.join(proc.info['cmdline'][:3])}")
    return found


class LabCluster:
    """A `minikube-py lab up` cluster under its own --root (see `lab_cluster`)."""

    def __init__(self, root: Path, spec: LabSpec) -> None:
        self.root, self.spec = root, spec
        self.admin = root / "etc" / "admin.conf"
        self.nodes = [n.name for n in spec.records()]
        self.up_result: subprocess.CompletedProcess[str] | None = None
        self.up_seconds = 0.0

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`minikube-py ARGS` with --root right after the (sub)command, before any `--`."""
        at = 2 if args[0] == "lab" else 1
        return mkp(*args[:at], "--root", str(self.root), *args[at:], timeout=timeout)

    def call(self, fn: Callable[[ApiClient], Awaitable[T]]) -> T:
        return api(self.admin, fn)


L = TypeVar("L", bound=LabCluster)


@contextlib.contextmanager
def lab_cluster(lab: L, *up_flags: str) -> Iterator[L]:
    """`lab up` (skipping while another cluster runs) for a module's tests, then `lab down`
    checked to leave nothing on the host, after every test in whatever order they ran."""
    started = time.monotonic()
    lab.up_result = lab.cli("lab", "up", "--nodes", str(lab.spec.nodes), "--api-port",
                            str(free_port()), "--no-install", "--timeout", "200", *up_flags)
    lab.up_seconds = time.monotonic() - started
    skip_if_other_cluster(lab.up_result)
    try:
        yield lab
    finally:
        down = lab.cli("lab", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    links = [lab.spec.bridge, *map(host_veth, lab.nodes)]
    assert host_leftovers(lab.root, lab.nodes, links) == []
    assert not lab.admin.exists()
    assert "no cluster" in lab.cli("status").stdout
