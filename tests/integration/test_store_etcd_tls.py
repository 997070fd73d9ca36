"""etcd with client and peer TLS: the embedded member, an external 3-member cluster, and
the clients (Storage, api-server flags, etcdctl snapshots) that must present the etcd CA's
certificates. A client without them is refused by etcd itself."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from minikube_py.apiserver import etcd_pki
from minikube_py.store import Storage, Unavailable
from tests.fixtures.apiserver import CLI, ApiServer
from tests.fixtures.etcd import EtcdCluster


async def test_the_embedded_etcd_serves_only_tls_with_client_certificates(
        apiserver_factory: Callable[..., ApiServer], tmp_path: Path) -> None:
    server = apiserver_factory()
    conf = yaml.safe_load((server.data_dir / "etcd" / "etcd.conf.yaml").read_text())
    for key in ("listen-client-urls", "advertise-client-urls", "listen-peer-urls"):
        assert conf[key].startswith("https://127.0.0.1:"), key
    for section in ("client-transport-security", "peer-transport-security"):
        assert conf[section]["client-cert-auth"] is True
    url = conf["advertise-client-urls"]
    certs = etcd_pki.paths(server.data_dir / "pki")
    async with Storage([url], tls=certs.client) as storage:
        page = await storage.list("/registry/namespaces/")
        assert any(item.key.endswith("/kube-system") for item in page.items)
    # The same URL without a client certificate, or with one another CA signed, is refused.
    stranger = etcd_pki.ensure(tmp_path / "other-pki")
    for tls in (None, stranger.client):
        async with Storage([url.replace("https", "http") if tls is None else url], tls=tls,
                           retry_for=1.0) as storage:
            with pytest.raises(Unavailable):
                await storage.list("/registry/namespaces/")


def test_snapshot_save_presents_the_certificates(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(etcd_snapshot_interval=0)
    done = subprocess.run([str(CLI), "etcd", "snapshot", "save", "--data-dir",
                           str(server.data_dir), "--name", "tls"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    [snap] = (server.data_dir / "snapshots").iterdir()
    assert snap.name.startswith("tls-") and snap.stat().st_size > 0


def test_api_server_on_an_external_tls_cluster(
        etcd_factory: Callable[..., EtcdCluster],
        apiserver_factory: Callable[..., ApiServer]) -> None:
    cluster = etcd_factory(3, tls=True)
    assert cluster.pki is not None
    client = cluster.pki.client
    server = apiserver_factory(etcd_servers=cluster.urls, etcd_cafile=client.ca_file,
                               etcd_certfile=client.cert_file, etcd_keyfile=client.key_file)
    status, _ = server.request("POST", "/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "over-tls"},
        "data": {"k": "v"}})
    assert status == 201
    cluster.kill(0)  # the channel fails over to another member, still over TLS
    status, body = server.request("GET", "/api/v1/namespaces/default/configmaps/over-tls")
    assert status == 200 and body["data"] == {"k": "v"}
