"""`minikube-py join` the whole way, as on a second host: a control plane elsewhere (here a
private api-server and controller-manager), `token create --print-join-command` there, the
printed command here; the agent runs with its node credential until Ready; `status` and
`down` work on the joined host and leave nothing behind."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.api.resources import NODES, SECRETS
from minikube_py.client import ApiClient
from minikube_py.cluster import kubeconfigs
from minikube_py.cluster.teardown import POD_BRIDGE
from tests.e2e.cluster_support import (
    EXE,
    api,
    host_leftovers,
    mkp,
    needs_root,
    skip_if_other_cluster,
)
from tests.fixtures.apiserver import ApiServer

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root,
              pytest.mark.timeout(300)]


@pytest.fixture
def controller_manager(apiserver: ApiServer) -> Iterator[None]:
    """Node IPAM gives the joined node its podCIDR (no pod network, no Ready)."""
    proc = subprocess.Popen([EXE, "controller-manager", "--kubeconfig", str(apiserver.kubeconfig)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_join_runs_the_agent_with_its_own_credential_until_ready(
        apiserver: ApiServer, controller_manager: None, tmp_path: Path) -> None:
    made = mkp("token", "create", "--kubeconfig", str(apiserver.kubeconfig), "--server",
               apiserver.url, "--print-join-command")
    assert made.returncode == 0, made.stderr
    command = made.stdout.split()
    assert command[:2] == ["minikube-py", "join"]
    node = f"joined-{uuid.uuid4().hex[:6]}"
    root = tmp_path / "host"
    try:
        joined = mkp(*command[1:], "--root", str(root), "--node-name", node, "--no-install",
                     timeout=200)
        skip_if_other_cluster(joined)
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert f"node {node} Ready" in joined.stdout
        conf = kubeconfigs.load(root / "state" / "nodes" / node / "kubelet.conf")
        assert conf["users"][0]["user"]["token"].startswith(f"mkpnode:{node}:")
        status = mkp("status", "--root", str(root))
        assert status.returncode == 0, status.stdout
        assert any(line.split()[:3] == ["OK", "node", node] for line in status.stdout.splitlines())
        nodes = api(apiserver.kubeconfig, lambda c: c.get(NODES, node))
        assert nodes["spec"]["podCIDR"]
    finally:
        down = mkp("down", "--root", str(root), "--purge")
    assert down.returncode == 0, down.stdout + down.stderr
    assert host_leftovers(root, [node], [POD_BRIDGE, "mkp.vxlan"]) == []

    async def cleanup(client: ApiClient) -> None:
        await client.delete(NODES, node)
        await client.delete(SECRETS, f"node-credentials-{node}", namespace="kube-system")
    api(apiserver.kubeconfig, cleanup)
