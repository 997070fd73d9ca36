"""Starting and stopping daemons by pid, the way an init system would.

Shared by dockerd (when `up` starts it), the supervisor daemon and `down`'s sweep of
leftovers: detach into its own session with output appended to a log, wait until it
answers, and stop with SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Collection
from pathlib import Path

log = logging.getLogger(__name__)

def read_pid(path: Path) -> int | None:
    """The pid in `path` if that process still exists, else None."""
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def start_daemon(argv: list[str], log_file: Path, ready: Callable[[int], bool],
                 timeout: float, what: str) -> int:
    """Start `argv` in its own session (outliving us), output appended to `log_file`;
    return its pid once `ready(pid)` holds. RuntimeError naming the log if it exits or times out.

    posix_spawn rather than Popen: a Popen of a daemon we leave running on purpose makes
    Python warn at exit that the subprocess "is still running".
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)])
    finally:
        os.close(out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(pid):
            log.debug("daemon started what=%s pid=%d", what, pid)
            return pid
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # it exited (and is reaped)
            break
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up; see {log_file}")


def terminate(pids: Collection[int], grace: float) -> list[int]:
    """SIGTERM `pids`, SIGKILL those alive after `grace` s; returns the ones still alive."""
    alive = {p for p in pids if pid_alive(p)}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = {p for p in alive if pid_alive(p)}
        if not alive:
            break
        log.debug("processes ignored signal sig=%s pids=%s", sig.name, sorted(alive))
    return sorted(alive)
