"""Docker Engine for the agents: use the running one, or start one and remember that we did.

Hosts without an init system (containers, these CI machines) have docker.io installed but
no dockerd running. We start it in its own session with its log under the log dir, and
record its pid in the state dir so `down` stops only a dockerd that `up` started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time

import docker
import docker.errors
import requests.exceptions

from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import pid_alive, read_pid

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
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.log("dockerd"), "ab") as out:
        proc = subprocess.Popen(["dockerd"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    paths.dockerd_pid.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if responds():
            log.info("dockerd started pid=%d", proc.pid)
            return True
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"dockerd did not come up; see {paths.log('dockerd')}")


def stop_if_ours(paths: ClusterPaths, timeout: float = 30.0) -> bool:
    """Stop dockerd only if `ensure` started it; True if it did."""
    pid = read_pid(paths.dockerd_pid)
    paths.dockerd_pid.unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    log.info("dockerd stopped pid=%d", pid)
    return True
