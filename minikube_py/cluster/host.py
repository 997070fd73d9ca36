"""Host preparation: root, the Debian packages the components exec, the node's address.

`up` installs what is missing with apt-get (the same list as bin/bootstrap) or says
exactly which program is missing, from which package, what it is for, and why it could
not be installed, before anything is started.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Callable

import psutil

log = logging.getLogger(__name__)


class HostError(Exception):
    """The host cannot run a cluster as it is; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Tool:
    binary: str
    package: str
    purpose: str


TOOLS = (
    Tool("dockerd", "docker.io", "runs pod containers"),
    Tool("etcd", "etcd-server", "the api-server's embedded etcd"),
    Tool("etcdctl", "etcd-client", "etcd snapshots (minikube-py etcd snapshot)"),
    Tool("iptables-restore", "iptables", "Service rules and pod forwarding"),
    Tool("ip", "iproute2", "network namespaces of lab nodes"),
    Tool("busybox", "busybox-static", "the node-local sandbox and sample-app image"),
    Tool("conntrack", "conntrack", "flushing UDP flows of removed Service endpoints"),
    Tool("ipset", "ipset", "the pod sets NetworkPolicy rules match"),
    Tool("haproxy", "haproxy", "the ingress controller's proxy"),
    # Not on PATH: the agent's conflist chains the reference portmap from its CNI bin dirs.
    Tool("/usr/lib/cni/portmap", "containernetworking-plugins", "hostPorts of pods"),
)


def require_root() -> None:
    if os.geteuid() != 0:
        raise HostError("run as root: a cluster needs dockerd, network namespaces and iptables")


def _present(binary: str) -> bool:
    if os.path.isabs(binary):
        return os.access(binary, os.X_OK)
    return shutil.which(binary) is not None


def missing_tools(tools: tuple[Tool, ...] = TOOLS) -> list[Tool]:
    return [t for t in tools if not _present(t.binary)]


def ensure_tools(progress: Callable[[str], None], tools: tuple[Tool, ...] = TOOLS) -> None:
    """Install the packages of missing programs, or raise HostError naming each one."""
    missing = missing_tools(tools)
    if not missing:
        return
    packages = sorted({t.package for t in missing})
    wanted = "; ".join(f"{t.binary} ({t.package}: {t.purpose})" for t in missing)
    if shutil.which("apt-get") is None:
        raise HostError(f"missing {wanted}; no apt-get here: install them with your package manager")
    progress(f"installing {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise HostError(f"missing {wanted}; `{' '.join(argv)}` failed: {' | '.join(tail)}")
    still = missing_tools(tools)
    if still:
        raise HostError(f"still missing after apt-get: {', '.join(t.binary for t in still)}")


def load_kernel_modules() -> None:
    """br_netfilter and vxlan are needed by the overlay; built-in modules are fine too."""
    if shutil.which("modprobe") is None:
        return
    for module in ("br_netfilter", "vxlan", "veth"):
        done = subprocess.run(["modprobe", module], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log.debug("modprobe failed module=%s err=%s", module, done.stderr.strip())


def primary_ipv4() -> str:
    """The address this host uses to reach the world (the node's InternalIP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent for a UDP connect
            return str(s.getsockname()[0])
        except OSError:
            pass
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                return str(a.address)
    raise HostError("no IPv4 address on this host; pass --node-ip")


def node_name() -> str:
    """A DNS-1123 label from the hostname, as the kubelet does."""
    name = socket.gethostname().split(".")[0].lower()
    cleaned = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name).strip("-")
    return cleaned or "node"
