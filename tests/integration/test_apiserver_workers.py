"""`--workers 2`: two processes serve one port (SO_REUSEPORT) on one etcd. New connections
reach both, both see the same objects, a killed worker comes back, and no worker
outlives the api-server."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

import psutil

from tests.fixtures.apiserver import CLI, ApiServer
from tests.fixtures.workers import answering_processes, until, workers_of


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
    first = until(lambda: workers_of(server), 10, "no worker process")[0]
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
