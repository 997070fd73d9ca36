"""A worker's command line carries every setting of the process that starts it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from minikube_py.apiserver.settings import ApiServerSettings
from minikube_py.apiserver.workers import worker_argv
from minikube_py.cli.apiserver import _settings
from minikube_py.cli.main import build_parser
from minikube_py.store.etcdtls import EtcdTLS

# What a worker has of its own: its role, the etcd it is handed, and the duties only the
# first process has (compaction); extra_tokens exist only for in-process tests.
OWN = {"worker", "workers", "etcd_servers", "etcd_tls", "compaction_interval", "extra_tokens"}


def settings_of(argv: list[str]) -> ApiServerSettings:
    return _settings(build_parser().parse_args(argv))


def test_worker_argv_round_trips_every_setting() -> None:
    parent = settings_of([
        "apiserver", "--data-dir", "/tmp/d", "--port", "7443", "--bind-address", "0.0.0.0",
        "--advertise-address", "10.0.0.10", "--tls-san", "api.example", "--tls-san", "10.0.0.99",
        "--service-cluster-ip-range", "10.100.0.0/16", "--service-node-port-range",
        "31000-31999", "--event-ttl", "120", "--watch-progress-interval", "3",
        "--workers", "3", "--authorization-mode", "AlwaysAllow",
        "--pod-security-default", "restricted", "--encryption-provider-config", "/tmp/e.yaml"])
    worker = settings_of(worker_argv(parent, ["http://127.0.0.1:2379"], None)[1:])
    assert worker.worker and worker.etcd_servers == ["http://127.0.0.1:2379"]
    mine, theirs = dataclasses.asdict(parent), dataclasses.asdict(worker)
    assert {k: v for k, v in mine.items() if k not in OWN} == \
        {k: v for k, v in theirs.items() if k not in OWN}


def test_a_worker_is_handed_the_etcd_client_certificates(tmp_path: Path) -> None:
    """The embedded etcd's client TLS reaches workers as --etcd-cafile/... flags."""
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_text("pem")
    tls = EtcdTLS(tmp_path / "ca.crt", tmp_path / "client.crt", tmp_path / "client.key")
    parent = settings_of(["apiserver", "--data-dir", str(tmp_path), "--workers", "2"])
    worker = settings_of(worker_argv(parent, ["https://127.0.0.1:2379"], tls)[1:])
    assert worker.etcd_servers == ["https://127.0.0.1:2379"] and worker.etcd_tls == tls


def test_a_worker_keeps_etcd_insecure() -> None:
    parent = settings_of(["apiserver", "--data-dir", "/tmp/d", "--etcd-insecure",
                          "--etcd-servers", "http://10.0.0.5:2379"])
    worker = settings_of(worker_argv(parent, parent.etcd_servers, None)[1:])
    assert worker.etcd_insecure and worker.etcd_servers == ["http://10.0.0.5:2379"]
