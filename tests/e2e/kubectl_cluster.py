"""A private single-node cluster for the kubectl and Python-client compatibility suites.

Why not `minikube-py up`: the host allows one `up` cluster at a time, and these suites must
run beside a person's cluster or another test's. So the fixture starts the same processes
`up` runs, privately:

    host                                  netns mkpk-<id> ("the node")
      api-server host-veth-IP:P (embedded etcd) agent (kubelet :10250, overlay; no proxy)
      scheduler, controller-manager            cni0, mkp.vxlan, its iptables rules
      vmkpk<id> 10.254.X.Y/30  <== veth ==>    eth0 10.254.X.Y+1/30

Everything the node makes on the host's network lives in its netns (removed at the end);
its containers carry the private node name as their `minikube-py.node` label, its CNI
executable and lease files sit in the private root. kubectl runs with a private
KUBECONFIG and --cache-dir. `old_kubectl()` unpacks Debian bookworm's kubernetes-client
(1.20, the oldest kubectl we support) into a cache dir once (bin/old-kubectl).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import yaml
from pyroute2 import IPRoute, netns

from agent.kubelet import labels
from agent.kubelet.images import ensure_busybox_image
from tests.e2e.cluster_support import eventually, free_port
from tests.fixtures.kubelet_certs import issue_serving_cert

KUBECTL_NEW = "/usr/bin/kubectl"
OLD_KUBECTL = Path(__file__).resolve().parents[2] / "bin" / "old-kubectl"


def old_kubectl() -> tuple[str | None, str]:
    """kubectl 1.20 (bin/old-kubectl fetches it once): (path, "") or (None, why not)."""
    got = subprocess.run([str(OLD_KUBECTL)], capture_output=True, text=True, timeout=240,
                         check=False)
    return (got.stdout.strip(), "") if got.returncode == 0 else (None, got.stderr.strip())


def kubectl_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "version", "--client", "-o", "yaml"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    info = yaml.safe_load(out)["clientVersion"]
    return int(info["major"]), int(info["minor"].rstrip("+"))


class Process:
    """A component subprocess whose output goes to a log file in the cluster root."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name, self.log = name, log_dir / f"{name}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


class KubeCluster:
    """The running private cluster: kubectl(...) and where everything is."""

    def __init__(self, root: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.root = root
        self.node = f"mkpk-{tag}"
        self.netns = self.node
        self.host_veth = f"vmkpk{tag}"
        third, fourth = random.randrange(256), random.randrange(0, 256, 4)
        self.host_ip, self.node_ip = f"10.254.{third}.{fourth + 1}", f"10.254.{third}.{fourth + 2}"
        self.port = free_port()
        self.data = root / "apiserver"
        self.admin = self.data / "admin.conf"
        self.kubeconfig = root / "kubeconfig"
        self.cache_dir = root / "kubectl-cache"
        self.processes: list[Process] = []

    # -- kubectl -------------------------------------------------------------------------
    def _argv(self, binary: str, args: tuple[str, ...]) -> list[str]:
        cache = self.cache_dir / binary.strip("/").replace("/", "_")  # one per kubectl version
        return [binary, "--cache-dir", str(cache), *args]

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root),
                "KUBECONFIG": str(self.kubeconfig), **(extra or {})}

    def kubectl(self, *args: str, binary: str = KUBECTL_NEW, stdin: str | None = None,
                timeout: float = 60, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster only (private kubeconfig and discovery cache)."""
        return subprocess.run(self._argv(binary, args), input=stdin, capture_output=True,
                              text=True, timeout=timeout, env=self._env(env), check=False)

    def popen(self, *args: str, binary: str = KUBECTL_NEW, **kwargs: object
              ) -> subprocess.Popen[str]:
        """kubectl in the background (watch, logs -f, a pty); the caller stops it."""
        options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
                                      "text": True, **kwargs}
        return subprocess.Popen(self._argv(binary, args), env=self._env(),
                                start_new_session=True, **options)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 120) -> None:
        ensure_busybox_image()  # the workloads' image (the agent builds only pause)
        self._network()
        exe = [sys.executable, "-m", "minikube_py.cli.main"]
        logs = self.root / "logs"
        logs.mkdir()
        self.processes.append(Process("apiserver", [
            *exe, "apiserver", "--data-dir", str(self.data), "--port", str(self.port),
            "--bind-address", self.host_ip, "--advertise-address", self.host_ip,
            "--tls-san", self.host_ip], logs))
        eventually(lambda: self.admin.exists() and (self.data / "pki" / "sa.key").exists(),
                   60, f"api-server admin.conf\n{self.processes[0].tail()}", interval=0.2)
        # Everyone (kubectl too) talks to the only address the api-server listens on.
        doc = yaml.safe_load(self.admin.read_text())
        for entry in doc["clusters"]:
            entry["cluster"]["server"] = f"https://{self.host_ip}:{self.port}"
        self.kubeconfig.write_text(yaml.safe_dump(doc))
        self.kubeconfig.chmod(0o600)
        self.processes.append(Process("scheduler", [
            *exe, "scheduler", "--kubeconfig", str(self.kubeconfig)], logs))
        self.processes.append(Process("controller-manager", [
            *exe, "controller-manager", "--kubeconfig", str(self.kubeconfig),
            "--cluster-cidr", "10.253.0.0/16",
            "--service-account-private-key-file", str(self.data / "pki" / "sa.key"),
            "--root-ca-file", str(self.data / "pki" / "ca.crt")], logs))
        bin_dir = self.root / "cni-bin"
        bin_dir.mkdir()
        # The serving certificate `up` would have got it, which the api-server verifies.
        issue_serving_cert(self.data, self.root / "agent" / "pki", self.node)
        self.processes.append(Process("agent", [
            "ip", "netns", "exec", self.netns, *exe, "agent", "--kubeconfig", str(self.kubeconfig),
            "--node-name", self.node, "--node-ip", self.node_ip, "--iface", "eth0",
            "--cni-conf-dir", str(self.root / "cni-conf"), "--cni-bin-dir", str(bin_dir),
            "--cni-bin-dir", "/usr/lib/cni", "--state-dir", str(self.root / "agent"),
            "--no-proxy"], logs))
        self.wait_node_ready(timeout)

    def wait_node_ready(self, timeout: float) -> None:
        def ready() -> bool:
            for p in self.processes:
                if p.proc.poll() is not None:
                    raise RuntimeError(f"{p.name} exited {p.proc.returncode}:\n{p.tail()}")
            out = self.kubectl("get", "node", self.node, "-o",
                               "jsonpath={.status.conditions[?(@.type=='Ready')].status}")
            return out.stdout.strip() == "True"
        eventually(ready, timeout, f"node {self.node} Ready", interval=1.0)

    def _network(self) -> None:
        netns.create(self.netns)
        with IPRoute() as ipr:
            ipr.link("add", ifname=self.host_veth, kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": self.netns})
            index = ipr.link_lookup(ifname=self.host_veth)[0]
            ipr.addr("add", index=index, address=self.host_ip, prefixlen=30)
            ipr.link("set", index=index, state="up")
        with IPRoute(netns=self.netns) as inner:
            eth0 = inner.link_lookup(ifname="eth0")[0]
            inner.addr("add", index=eth0, address=self.node_ip, prefixlen=30)
            inner.link("set", index=eth0, state="up")
            inner.link("set", index=inner.link_lookup(ifname="lo")[0], state="up")
            inner.route("add", dst="0.0.0.0/0", gateway=self.host_ip)

    def stop(self) -> None:
        """Stop every process (agent first), remove the node's containers, netns and veth."""
        for p in reversed(self.processes):
            p.stop()
        with contextlib.suppress(docker.errors.DockerException):
            dc = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=60)
            try:
                for c in dc.containers.list(all=True,
                                            filters={"label": f"{labels.NODE}={self.node}"}):
                    with contextlib.suppress(docker.errors.NotFound):
                        c.remove(force=True)
            finally:
                dc.close()
        if self.netns in netns.listnetns():
            netns.remove(self.netns)
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=self.host_veth):
                with contextlib.suppress(Exception):
                    ipr.link("del", index=index)


@contextlib.contextmanager
def private_cluster(root: Path) -> Iterator[KubeCluster]:
    """A started KubeCluster under `root`, stopped and removed even when starting fails."""
    cluster = KubeCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
