"""`minikube-py metrics-server-credentials` then `minikube-py metrics-server`, as install.sh
and the systemd unit run them: the server works with only its own ServiceAccount's
credentials and the files the command wrote, and the api-server reaches it through the
APIService (a real api-server, real processes, real TLS)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from minikube_py.cluster import metrics_setup
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import free_port

CLI = Path(sys.executable).parent / "minikube-py"
OBJECTS = (f"/apis/apiregistration.k8s.io/v1/apiservices/{metrics_setup.APISERVICE}",
           "/api/v1/namespaces/kube-system/services/metrics-server",
           "/api/v1/namespaces/kube-system/endpoints/metrics-server",
           "/api/v1/namespaces/kube-system/serviceaccounts/metrics-server")


@pytest.fixture
def installed(apiserver: ApiServer, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    conf, port = tmp_path / "metrics-server.conf", free_port()
    pki = apiserver.data_dir / "pki"
    try:
        done = subprocess.run(
            [str(CLI), "metrics-server-credentials", "--kubeconfig", str(apiserver.kubeconfig),
             "--output", str(conf), "--address", "127.0.0.1", "--secure-port", str(port)],
            capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        yield conf, port
    finally:
        for path in OBJECTS:
            apiserver.request("DELETE", path)
        for name in ("metrics-server.crt", "metrics-server.key"):
            (pki / name).unlink(missing_ok=True)


def test_writes_its_identity_certificate_and_apiservice(
        apiserver: ApiServer, installed: tuple[Path, int]) -> None:
    conf, port = installed
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    assert yaml.safe_load(conf.read_text())["users"][0]["name"] == \
        "system:serviceaccount:kube-system:metrics-server"
    pki = apiserver.data_dir / "pki"  # default --pki-dir: next to the admin kubeconfig
    assert oct((pki / "metrics-server.key").stat().st_mode & 0o777) == "0o600"
    san = x509.load_pem_x509_certificate((pki / "metrics-server.crt").read_bytes()) \
        .extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "metrics-server.kube-system.svc" in san.get_values_for_type(x509.DNSName)
    status, ep = apiserver.request("GET", OBJECTS[2])
    assert status == 200
    assert ep["subsets"][0]["ports"][0]["port"] == port
    status, svc = apiserver.request("GET", OBJECTS[0])
    assert status == 200 and svc["spec"]["service"]["name"] == "metrics-server"


def test_server_runs_on_those_files_and_serves_through_aggregation(
        apiserver: ApiServer, installed: tuple[Path, int], tmp_path: Path) -> None:
    conf, port = installed
    pki = apiserver.data_dir / "pki"
    log = tmp_path / "metrics-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(CLI), "metrics-server", "--kubeconfig", str(conf),
             "--tls-cert-file", str(pki / "metrics-server.crt"),
             "--tls-private-key-file", str(pki / "metrics-server.key"),
             "--bind-address", "127.0.0.1", "--secure-port", str(port)],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    try:
        got: tuple[int, Any] = (0, None)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = apiserver.request("GET", "/apis/metrics.k8s.io/v1beta1/nodes")
            if got[0] == 200:
                break
            time.sleep(0.3)
        assert got[0] == 200, f"{got} {log.read_text()}"
        assert got[1]["kind"] == "NodeMetricsList"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
