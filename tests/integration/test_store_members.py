"""etcd membership for control-plane joins (store/members.py) on real TLS members: a new
host's member joins as a learner with the --initial-cluster it is given, is promoted once
it caught up, serves, and is removed again (node remove), leaving the quorum to the rest."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from minikube_py.store import Storage
from minikube_py.store.members import (
    MembershipError,
    add_learner,
    member_status,
    members,
    promote,
    remove,
)
from tests.fixtures.apiserver import CLI
from tests.fixtures.etcd import ETCD, EtcdCluster, free_port


@pytest.fixture
def joiner(tmp_path: Path) -> Iterator[Callable[[list[str]], None]]:
    """start(etcd flags): the joining host's etcd, killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(flags: list[str]) -> None:
        with open(tmp_path / "joiner.log", "wb") as log:
            procs.append(subprocess.Popen([ETCD, *flags], stdout=log, stderr=log))

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


async def test_learner_join_promote_and_remove(
        etcd_factory: Callable[..., EtcdCluster], tmp_path: Path,
        joiner: Callable[[list[str]], None]) -> None:
    cluster = etcd_factory(1, tls=True)
    assert cluster.pki is not None
    tls = cluster.pki.client
    client_port, peer_port = free_port(), free_port()
    peer = f"https://127.0.0.1:{peer_port}"
    member_id, initial = await add_learner(cluster.urls, tls, "joiner", peer)
    assert sorted(initial.split(",")) == [f"joiner={peer}", f"m0={cluster.members[0].peer_url}"]
    [learner] = [m for m in await members(cluster.urls, tls) if m.member_id == member_id]
    assert learner.is_learner
    url = f"https://127.0.0.1:{client_port}"
    joiner(["--name", "joiner", "--data-dir", str(tmp_path / "joiner"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial, "--initial-cluster-state", "existing",
            "--initial-cluster-token", cluster.token, *cluster.pki.member.flags()])
    await promote(cluster.urls, tls, member_id, timeout=60)
    assert not [m for m in await members(cluster.urls, tls) if m.is_learner]
    async with Storage([url], tls=tls) as storage:  # the new member serves the data
        await storage.create("/registry/k/joined", b"1")
    status = await member_status(url, tls)
    assert not isinstance(status, str) and status.raft_index > 0
    assert await remove(cluster.urls, tls, "joiner") == member_id
    assert [m.name for m in await members(cluster.urls, tls)] == ["m0"]
    with pytest.raises(MembershipError, match="no etcd member named 'joiner'"):
        await remove(cluster.urls, tls, "joiner")


def test_the_cli_lists_and_removes_members(etcd_factory: Callable[..., EtcdCluster]) -> None:
    cluster = etcd_factory(3, tls=True)
    assert cluster.pki is not None
    tls = cluster.pki.client
    flags = ["--etcd-servers", ",".join(cluster.urls), "--etcd-cafile", str(tls.ca_file),
             "--etcd-certfile", str(tls.cert_file), "--etcd-keyfile", str(tls.key_file)]

    def member(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), "etcd", "member", *args, *flags],
                              capture_output=True, text=True, timeout=60, check=False)

    listed = member("list")
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split(", ")[2] for line in listed.stdout.splitlines()) == \
        ["m0", "m1", "m2"]
    cluster.kill(2)  # a host gone for good: its member is removed, 2 of 2 are the quorum
    removed = member("remove", "m2")
    assert removed.returncode == 0 and "removed" in removed.stdout, removed.stderr
    assert "m2" not in member("list").stdout
    again = member("remove", "m2")
    assert again.returncode == 1 and "no etcd member named 'm2'" in again.stderr
    added = member("add", "m3", "--peer-url", "http://127.0.0.1:1")
    assert added.returncode == 1 and "members speak TLS" in added.stderr
