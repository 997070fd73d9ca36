"""A host joining as another control plane, against a real api-server and real TLS etcd:
the shared PKI sealed into kube-system/kubeadm-certs (upload-certs) is readable by a
bootstrap token and opens only with the certificate key, carries the pinned CA, expires
with its owner token (token cleaner + garbage collector), and the joining host issues its
own certificates; its etcd member is added once as a learner; `node remove` takes the
member and the Node away."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from minikube_py.api.resources import NODES, SECRETS
from minikube_py.apiserver import pki
from minikube_py.client import ApiClient
from minikube_py.client.errors import Forbidden, NotFound, Unauthorized
from minikube_py.client.tasks import background
from minikube_py.cluster import join_control_plane, node_remove, tokens, uploadcerts
from minikube_py.cluster.join import JoinError, JoinRequest
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import NodeRecord
from minikube_py.controllers.manager import run_controllers
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.store import members, snapshots
from tests.fixtures.apiserver import CLI, ApiServer
from tests.fixtures.etcd import EtcdCluster
from tests.helpers import eventually

NODE = NodeRecord("cp-joiner", "192.0.2.7")


@pytest.fixture
async def admin(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        yield client
        for secret in (await client.list(SECRETS, "kube-system"))["items"]:
            name = secret["metadata"]["name"]
            if name == uploadcerts.SECRET_NAME or secret["type"] == tokens.BOOTSTRAP_TYPE:
                with contextlib.suppress(NotFound):
                    await client.delete(SECRETS, name, "kube-system")


async def register_node(apiserver: ApiServer, name: str, ip: str) -> None:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                    "metadata": {"name": name}})
        await client.patch(NODES, name, subresource="status", patch={"status": {"addresses": [
            {"type": "InternalIP", "address": ip}]}})


async def node_labels(apiserver: ApiServer, name: str) -> dict[str, str]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        labels: dict[str, str] = (await client.get(NODES, name))["metadata"].get("labels") or {}
        return labels


async def bootstrap_token(admin: ApiClient) -> str:
    token = tokens.new_token()
    await admin.create(SECRETS, tokens.token_secret(token, timedelta(minutes=10)))
    return token


async def test_uploaded_certificates_open_with_the_key_only(
        apiserver: ApiServer, admin: ApiClient, tmp_path: Path) -> None:
    source = apiserver.data_dir / "pki"
    key = uploadcerts.new_key()
    await uploadcerts.upload(admin, source, key)
    stored = await admin.get(SECRETS, uploadcerts.SECRET_NAME, "kube-system")
    assert b"BEGIN" not in str(stored["data"]).encode()  # sealed, not merely base64
    [owner] = stored["metadata"]["ownerReferences"]
    proxy = await admin.get(SECRETS, owner["name"], "kube-system")
    assert proxy["type"] == tokens.BOOTSTRAP_TYPE and "expiration" in proxy["data"]
    assert "usage-bootstrap-authentication" not in proxy["data"]  # it opens no door

    token = await bootstrap_token(admin)
    async with ApiClient(apiserver.url, token=token, ca_file=apiserver.ca_file) as boot:
        files = await uploadcerts.download(boot, key)
        with pytest.raises(uploadcerts.CertsError, match="wrong --certificate-key"):
            await uploadcerts.download(boot, uploadcerts.new_key())
        with pytest.raises(Forbidden):  # no other Secret
            await boot.get(SECRETS, owner["name"], "kube-system")
    assert files == uploadcerts.shared_files(source)
    assert {"ca.key", "sa.key", "admin.token", "etcd/ca.key"} <= set(files)
    assert not set(files) & uploadcerts.OWN
    with pytest.raises(uploadcerts.CertsError, match="64 hex digits"):
        await uploadcerts.upload(admin, source, "abc")

    ca_pem = apiserver.ca_file.read_bytes()
    req = JoinRequest(apiserver.url, token, tokens.ca_hash(ca_pem), NODE.name)
    target = tmp_path / "pki"
    await join_control_plane.fetch_pki(req, ca_pem, key, target, NODE)
    for name in ("ca.key", "sa.key", "etcd/ca.crt"):
        assert (target / name).read_bytes() == (source / name).read_bytes(), name
    assert (target / "sa.key").stat().st_mode & 0o777 == 0o600
    serving = x509.load_pem_x509_certificate((target / "apiserver.crt").read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert NODE.ip in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert (target / "etcd" / "peer.crt").exists()
    # Another cluster's PKI uploaded here is refused: its CA is not the one pinned.
    pki.ensure(tmp_path / "other", service_ip="10.96.0.1")
    await uploadcerts.upload(admin, tmp_path / "other", key)
    with pytest.raises(JoinError, match="not of the pinned cluster CA"):
        await join_control_plane.fetch_pki(req, ca_pem, key, tmp_path / "x", NODE)


async def test_the_certificates_expire_with_their_owner_token(
        apiserver: ApiServer, admin: ApiClient) -> None:
    settings = ControllerManagerSettings(leader_election=None,
                                         controllers=("tokencleaner", "garbagecollector"))
    async with background(run_controllers(admin, settings), "controllers"):
        await uploadcerts.upload(admin, apiserver.data_dir / "pki", uploadcerts.new_key(),
                                 ttl=timedelta(seconds=2))

        async def gone() -> bool:
            try:
                await admin.get(SECRETS, uploadcerts.SECRET_NAME, "kube-system")
            except NotFound:
                return True
            return False
        await eventually(gone, timeout=30, what="kubeadm-certs deleted with its token")
    token = await bootstrap_token(admin)
    async with ApiClient(apiserver.url, token=token, ca_file=apiserver.ca_file) as boot:
        with pytest.raises(uploadcerts.CertsError, match="expired"):
            await uploadcerts.download(boot, uploadcerts.new_key())
    async with ApiClient(apiserver.url, token="abcdef.0123456789abcdef",
                         ca_file=apiserver.ca_file) as stranger:
        with pytest.raises(Unauthorized):
            await stranger.get(SECRETS, uploadcerts.SECRET_NAME, "kube-system")


async def test_the_etcd_member_is_added_once_and_removed_with_the_node(
        etcd_factory: Callable[..., EtcdCluster], admin: ApiClient, tmp_path: Path) -> None:
    cluster = etcd_factory(1, tls=True)
    assert cluster.pki is not None
    pki_dir = cluster.pki.ca_cert.parent.parent
    first = await join_control_plane.add_member(pki_dir, NODE, cluster.urls)
    again = await join_control_plane.add_member(pki_dir, NODE, cluster.urls)
    assert again.member_id == first.member_id
    assert sorted(first.initial_cluster.split(",")) == [
        f"{NODE.name}=https://{NODE.ip}:2380", f"m0={cluster.members[0].peer_url}"]
    assert first.etcd_servers == [f"https://{NODE.ip}:2379", *cluster.urls]
    join_control_plane.write_env(tmp_path, NODE, first, "vip.example")
    env = (tmp_path / "etcd.env").read_text()
    assert 'CLUSTER_STATE="existing"' in env and f'INITIAL_CLUSTER="{first.initial_cluster}"' \
        in env
    assert "--tls-san vip.example" in (tmp_path / "apiserver.env").read_text()
    tls = cluster.pki.client
    [learner] = [m for m in await members.members(cluster.urls, tls) if m.is_learner]
    learner_name = learner.name or NODE.name  # an unstarted member has no name yet
    assert learner.member_id == first.member_id and learner_name == NODE.name

    await admin.create(NODES, {"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": "m0-host"}})
    removed = await node_remove.remove(admin, "m0-host", cluster.urls, tls)
    assert removed == node_remove.Removed(True, None)  # a worker: no member of its name
    with pytest.raises(NotFound):
        await admin.get(NODES, "m0-host")


def test_join_control_plane_and_node_remove_through_the_cli(
        apiserver: ApiServer, tmp_path: Path) -> None:
    """upload-certs, token create, then `join --control-plane --systemd` as install.sh runs
    it (its files under --root): the PKI and env files are written and the learner is in
    the api-server's own etcd; `node remove` takes the member out again. The token is not
    spent: a second control plane joins with the same command (etcd takes one learner at
    a time: the first is promoted or, here, removed before)."""
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), *args], capture_output=True, text=True,
                              timeout=120, check=False)

    admin = ["--kubeconfig", str(apiserver.kubeconfig)]
    uploaded = cli("upload-certs", "--data-dir", str(apiserver.data_dir), *admin)
    assert uploaded.returncode == 0, uploaded.stderr
    key = uploaded.stdout.strip()
    assert len(bytes.fromhex(key)) == 32
    made = cli("token", "create", "--print-join-command", "--server", apiserver.url, *admin)
    assert made.returncode == 0, made.stderr
    etcd = snapshots.client_url(apiserver.data_dir)
    tls = ["--etcd-servers", etcd, "--data-dir", str(apiserver.data_dir)]

    def join(name: str, ip: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return cli(*made.stdout.split()[1:], "--node-name", name, "--node-ip", ip,
                   "--systemd", "--no-install", "--root", str(tmp_path / name),
                   "--etcd-servers", etcd, "--control-plane", *extra)

    refused = join("cp-cli", "127.0.0.9")
    assert refused.returncode == 1 and "--certificate-key" in refused.stderr
    bad = join("cp-cli", "127.0.0.9", "--certificate-key", key, "--register-with-taints", "x:Y")
    assert bad.returncode == 1 and "--register-with-taints: taint 'x:Y'" in bad.stderr
    for name, ip in (("cp-cli", "127.0.0.9"), ("cp-cli2", "127.0.0.10")):
        joined = join(name, ip, "--certificate-key", key)
        if "one cluster per host" in joined.stderr:
            pytest.skip("another cluster runs on this host (join refuses, as it should)")
        try:
            assert joined.returncode == 0, joined.stderr
            assert "added as a learner" in joined.stdout
            paths = ClusterPaths.under(tmp_path / name)
            pki_dir = paths.apiserver_dir(False) / "pki"
            assert (pki_dir / "sa.key").read_bytes() == \
                (apiserver.data_dir / "pki" / "sa.key").read_bytes()
            assert 'CLUSTER_STATE="existing"' in (paths.config_dir / "etcd.env").read_text()
            agent_env = (paths.config_dir / "agent.env").read_text()
            assert name in agent_env  # kubeadm join --control-plane's taint:
            assert "--register-with-taints node-role.kubernetes.io/control-plane:NoSchedule" \
                in agent_env
            listed = cli("etcd", "member", "list", *tls)
            assert "learner" in listed.stdout and f"https://{ip}:2380" in listed.stdout
            # What its agent registers; the learner never started (no name): by address.
            asyncio.run(register_node(apiserver, name, ip))
            marked = cli("node", "mark-control-plane", name, *admin)
            assert marked.returncode == 0, marked.stderr
            assert "node-role.kubernetes.io/control-plane" in asyncio.run(
                node_labels(apiserver, name))
        finally:
            removed = cli("node", "remove", name, *tls, *admin)
        assert removed.returncode == 0 and "removed" in removed.stdout, removed.stderr
        assert f"{ip}:" not in cli("etcd", "member", "list", *tls).stdout
    missing = cli("node", "remove", "no-such-node", "--etcd-servers", "", *admin)
    assert missing.returncode == 1 and 'nodes "no-such-node" not found' in missing.stderr
