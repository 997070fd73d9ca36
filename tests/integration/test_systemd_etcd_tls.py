"""The systemd units' etcd and api-server command lines, run for real (no systemd needed):
`minikube-py etcd certs` makes what the etcd unit's TLS flags name, etcd starts on them,
and the api-server unit's flags reach it over client TLS. The member listens on a loopback
address of its own (127.x), so the units' fixed ports 2379/2380 clash with nothing."""

from __future__ import annotations

import os
import random
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.apiserver import CLI, ApiServer
from tests.fixtures.etcd import free_port
from tests.fixtures.systemd_units import INSTALLED_EXE, unit


def _environment(component: str, **overrides: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in unit(component).get("Service", "Environment").split("\n"):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            env[key] = value
    return env | overrides


def _argv(component: str, env: dict[str, str]) -> list[str]:
    """ExecStart with ${X} and $X expanded as systemd does (unset: empty, split on words)."""
    line = unit(component).get("Service", "ExecStart")
    line = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m[1] or m[2], ""), line)
    return shlex.split(line)


@pytest.fixture
def member_ip() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@pytest.fixture
def etcd_unit(tmp_path: Path, member_ip: str) -> Iterator[dict[str, str]]:
    data = tmp_path / "apiserver"
    done = subprocess.run([str(CLI), "etcd", "certs", "--data-dir", str(data),
                           "--ip", member_ip], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    env = _environment("etcd", DATA_DIR=str(tmp_path / "etcd"), PKI=str(data / "pki"),
                       MEMBER_IP=member_ip, LISTEN_CLIENT_URLS=f"https://{member_ip}:2379",
                       INITIAL_CLUSTER=f"minikube-py=https://{member_ip}:2380")
    with open(tmp_path / "etcd.log", "wb") as log:
        # In the unit's environment, as systemd runs it: etcd reads ETCD_* variables as
        # flags and refuses to start when one repeats a flag of the command line.
        proc = subprocess.Popen(_argv("etcd", env), stdout=log, stderr=log,
                                env=env | {"PATH": os.environ["PATH"]})
    try:
        yield env
    finally:
        proc.kill()
        proc.wait()


def test_the_api_server_unit_reaches_the_etcd_unit_over_tls(
        etcd_unit: dict[str, str], tmp_path: Path, member_ip: str) -> None:
    port = free_port()
    env = _environment("apiserver", PKI=etcd_unit["PKI"], API_PORT=str(port),
                       ETCD_SERVERS=f"https://{member_ip}:2379")
    argv = _argv("apiserver", env)
    assert argv[0] == INSTALLED_EXE
    argv[argv.index("--data-dir") + 1] = str(tmp_path / "apiserver")
    server = ApiServer(tmp_path / "apiserver", port, argv[argv.index("--port") + 2:])
    try:
        server.start()
        status, _ = server.request("POST", "/api/v1/namespaces/default/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unit"}})
        assert status == 201
    finally:
        server.stop()
    # Plain HTTP to the same member is refused: the unit serves nothing without TLS.
    bare = ApiServer(tmp_path / "plain", free_port(), [
        "--etcd-servers", f"http://{member_ip}:2379"])
    try:
        with pytest.raises((RuntimeError, TimeoutError)):
            bare.start(timeout=8)
    finally:
        bare.stop()
