"""Docker Engine for the agents: use the running one, or start one and remember that we did.

Hosts without an init system (containers, these CI machines) have docker.io installed but
no dockerd running. We start it in its own session with its log under the log dir, and
record its pid in the state dir so `down` stops only a dockerd that `up` started.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess

import docker
import docker.errors
import requests.exceptions

from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import read_pid, start_daemon, terminate

log = logging.getLogger(__name__)

SOCKET = "unix:///var/run/docker.sock"


def responds(timeout: float = 2.0) -> bool:
    """True if a dockerd answers on the default socket."""
    try:
        with contextlib.closing(docker.DockerClient(base_url=SOCKET, timeout=timeout)) as c:
            return bool(c.ping())
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False


def ensure(paths: ClusterPaths, timeout: float = 60.0) -> bool:
    """Make sure dockerd answers; return True if we had to start it."""
    if responds():
        return False
    paths.state_dir.mkdir(parents=True, exist_ok=True)

    def ready(proc: subprocess.Popen[bytes]) -> bool:
        paths.dockerd_pid.write_text(f"{proc.pid}\n")  # recorded even if it never answers
        return responds()
    start_daemon(["dockerd"], paths.log("dockerd"), ready, timeout, "dockerd")
    return True


def stop_if_ours(paths: ClusterPaths, timeout: float = 30.0) -> bool:
    """Stop dockerd only if `ensure` started it; True if it did."""
    pid = read_pid(paths.dockerd_pid)
    paths.dockerd_pid.unlink(missing_ok=True)
    if pid is None:
        return False
    terminate([pid], timeout)
    log.info("dockerd stopped pid=%d", pid)
    return True
