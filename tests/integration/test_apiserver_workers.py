"""`--workers 2`: two processes serve one port (SO_REUSEPORT) on one etcd. New connections
reach both, both see the same objects, a killed worker comes back, and no worker
outlives the api-server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable

import psutil

from tests.fixtures.apiserver import CLI, ApiServer


def workers_of(server: ApiServer) -> list[psutil.Process]:
    assert server.proc is not None
    return [c for c in psutil.Process(server.proc.pid).children()
            if "--worker" in c.cmdline()]


def until(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return got


def answering_processes(server: ApiServer, connections: int) -> set[str]:
    """process_start_time_seconds of whoever answered each of `connections` new
    connections (urllib opens one per request)."""
    seen = set()
    for _ in range(connections):
        status, text = server.request("GET", "/metrics")
        assert status == 200
        seen.add(re.search(r"^process_start_time_seconds (\S+)$", str(text), re.MULTILINE).group(1))
    return seen


def test_two_processes_serve_one_port_and_one_store(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(workers=2)
    until(lambda: workers_of(server), 10, "no worker process")
    until(lambda: len(answering_processes(server, 20)) == 2, 30,
          "new connections never reached both processes")
    status, made = server.request("POST", "/api/v1/namespaces/default/configmaps",
                                  {"metadata": {"name": "shared"}, "data": {"k": "v"}})
    assert status == 201, made
    for _ in range(20):  # whichever process answers, it reads what the other wrote
        status, got = server.request("GET", "/api/v1/namespaces/default/configmaps/shared")
        assert status == 200 and isinstance(got, dict) and got["data"] == {"k": "v"}


def test_a_killed_worker_is_replaced_and_workers_end_with_the_server(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(workers=2)
    first = until(lambda: workers_of(server), 10, "no worker process")[0]  # type: ignore[index]
    os.kill(first.pid, signal.SIGKILL)
    until(lambda: [w for w in workers_of(server) if w.pid != first.pid], 10,
          "the killed worker was not replaced")
    for _ in range(10):
        assert server.request("GET", "/api/v1/namespaces")[0] == 200
    worker = workers_of(server)[0]
    server.kill()  # SIGKILL: no clean shutdown to stop the worker
    until(lambda: not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE, 10,
          "a worker outlived its api-server")


def test_bad_worker_counts_are_refused() -> None:
    out = subprocess.run([str(CLI), "apiserver", "--data-dir", "/nonexistent/x", "--workers",
                          "0"], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0 and "--workers must be at least 1" in out.stderr
    assert "Traceback" not in out.stderr
