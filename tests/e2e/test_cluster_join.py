"""`token create` and `join` against a real single-node cluster: CA pinning, bootstrap
tokens (wrong, expired), and node credentials that may touch only their own objects."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.api.resources import NODES, SECRETS
from minikube_py.client import ApiClient
from minikube_py.client.errors import Forbidden
from minikube_py.cluster import join, kubeconfigs, tokens
from tests.e2e.cluster_support import api, free_port, mkp, needs_root, skip_if_other_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root,
              pytest.mark.timeout(600)]


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.admin = root / "etc" / "admin.conf"
        self.ca = kubeconfigs.ca_data(kubeconfigs.load(self.admin))
        self.server = kubeconfigs.load(self.admin)["clusters"][0]["cluster"]["server"]
        self.node = json.loads((root / "state" / "cluster.json").read_text())["nodes"][0]["name"]

    def token(self, *extra: str) -> str:
        made = mkp("token", "create", "--root", str(self.root), *extra)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("mkp-join")
    up = mkp("up", "--root", str(root), "--api-port", str(free_port()), "--no-install",
             "--timeout", "150")
    skip_if_other_cluster(up)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield Cluster(root)
    finally:
        mkp("down", "--root", str(root), "--purge")


def request(cluster: Cluster, token: str, node: str | None = None) -> join.JoinRequest:
    return join.JoinRequest(cluster.server, token, tokens.ca_hash(cluster.ca),
                            node or f"joined-{uuid.uuid4().hex[:6]}").validated()


def test_token_create_prints_a_bootstrap_token_and_the_join_command(cluster: Cluster) -> None:
    token = cluster.token("--ttl", "10m")
    token_id, _ = tokens.parse_token(token)
    secret = api(cluster.admin, lambda c: c.get(SECRETS, f"bootstrap-token-{token_id}",
                                                namespace="kube-system"))
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    expires = base64.b64decode(secret["data"]["expiration"]).decode()
    assert expires > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 9 * 60))
    line = cluster.token("--print-join-command").split()
    assert line[:2] == ["minikube-py", "join"]
    assert line[line.index("--ca-cert-hash") + 1] == tokens.ca_hash(cluster.ca)
    assert line[line.index("--server") + 1].startswith("https://")


def test_a_ca_that_does_not_match_the_pin_is_refused_and_nothing_changes(
        cluster: Cluster, tmp_path: Path) -> None:
    wrong = "sha256:" + "0" * 64
    out = mkp("join", "--root", str(tmp_path / "n"), "--server", cluster.server,
              "--token", cluster.token(), "--ca-cert-hash", wrong, "--node-name", "x1")
    assert out.returncode == 1 and "refusing to trust it" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "n").exists()


def test_malformed_input_is_refused_before_any_connection(tmp_path: Path) -> None:
    out = mkp("join", "--root", str(tmp_path / "n"), "--server", "https://192.0.2.99:6443",
              "--token", "not-a-token", "--ca-cert-hash", "sha256:" + "a" * 64)
    assert out.returncode == 1 and "abcdef.0123456789abcdef" in out.stderr
    assert not (tmp_path / "n").exists()


def test_a_host_running_a_cluster_does_not_join_another(cluster: Cluster, tmp_path: Path) -> None:
    out = mkp("join", "--root", str(tmp_path / "n"), "--server", cluster.server,
              "--token", cluster.token(), "--ca-cert-hash", tokens.ca_hash(cluster.ca))
    assert out.returncode == 1 and "one cluster per host" in out.stderr
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("kind", ["unknown", "expired"])
def test_wrong_or_expired_tokens_are_refused(cluster: Cluster, kind: str) -> None:
    if kind == "expired":
        token = cluster.token("--ttl", "1s")
        time.sleep(2.5)
    else:
        token = tokens.new_token()
    with pytest.raises(join.JoinError, match="wrong or expired"):
        asyncio.run(join.obtain_credentials(request(cluster, token), cluster.ca))


def test_node_credentials_reach_only_their_own_node(cluster: Cluster, tmp_path: Path) -> None:
    req = request(cluster, cluster.token())
    conf = tmp_path / "kubelet.conf"
    asyncio.run(join.join(req, cluster.ca, conf))
    assert oct(conf.stat().st_mode & 0o777) == "0o600"

    async def as_node() -> None:
        async with ApiClient.from_kubeconfig(conf) as node:
            await node.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                      "metadata": {"name": req.node_name}})
            await node.patch(NODES, req.node_name, {"metadata": {"labels": {"joined": "yes"}}})
            assert (await node.list(NODES))["items"]
            with pytest.raises(Forbidden):
                await node.patch(NODES, cluster.node, {"metadata": {"labels": {"evil": "1"}}})
            with pytest.raises(Forbidden):
                await node.create(SECRETS, {"metadata": {"name": "x", "namespace": "default"},
                                            "type": "Opaque"})
    asyncio.run(as_node())
    again = request(cluster, cluster.token(), node=req.node_name)
    with pytest.raises(join.JoinError, match=f'node "{req.node_name}" already exists'):
        asyncio.run(join.obtain_credentials(again, cluster.ca))
