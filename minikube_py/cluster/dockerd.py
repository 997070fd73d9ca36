"""Docker Engine for the agents: use the running one, or start one and remember that we did.

Hosts without an init system (containers, these CI machines) have docker.io installed but
no dockerd running. We start it in its own session with its log under the log dir, and
record its pid in the state dir so `down` stops only a dockerd that `up` started.
"""

from __future__ import annotations

import logging
import socket

from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import read_pid, start_daemon, terminate

log = logging.getLogger(__name__)

SOCKET_PATH = "/var/run/docker.sock"
SOCKET = f"unix://{SOCKET_PATH}"


def responds(timeout: float = 2.0) -> bool:
    """True if a dockerd answers `GET /_ping` on the default socket.

    A plain socket, not the Docker SDK: while dockerd starts, the SDK's failed connects
    leave their sockets open for the garbage collector (a ResourceWarning much later).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(SOCKET_PATH)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status_line = sock.recv(64).split(b"\r\n", 1)[0]
        except OSError:
            return False
    return status_line.split(b" ")[1:2] == [b"200"]


def ensure(paths: ClusterPaths, timeout: float = 60.0) -> bool:
    """Make sure dockerd answers; return True if we had to start it."""
    if responds():
        return False
    paths.state_dir.mkdir(parents=True, exist_ok=True)

    def ready(pid: int) -> bool:
        paths.dockerd_pid.write_text(f"{pid}\n")  # recorded even if it never answers
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
