"""etcd snapshots against real etcd: `minikube-py etcd snapshot save` of a live member,
`ls`, `restore` into a fresh api-server data dir (the embedded etcd's own config), an etcd
started on it has the data; restore refuses while that etcd serves; `prune` keeps N.
Disaster recovery of a 3-member TLS cluster: all members lost, one restored from the
snapshot as a new cluster, the other two rejoin it (data wiped, learner, promoted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from minikube_py.store import members
from minikube_py.store.embedded import EmbeddedEtcd, EtcdConfig
from minikube_py.store.etcdtls import EtcdTLS
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import ETCD, EtcdCluster

pytestmark = pytest.mark.skipif(not Path("/usr/bin/etcdctl").exists(),
                                reason="etcdctl (Debian etcd-client) missing")


def etcdctl(url: str, *args: str, tls: EtcdTLS | None = None) -> str:
    return subprocess.run(["etcdctl", "--endpoints", url,
                           *(tls.etcdctl_args() if tls is not None else ()), *args], env={
        **os.environ, "ETCDCTL_API": "3"}, capture_output=True, text=True, check=True,
        timeout=30).stdout


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "etcd", "snapshot",
                           *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})


@pytest.fixture
def data_dir(tmp_path: Path, etcd: EtcdCluster) -> Path:
    """An api-server data dir whose embedded-etcd config points at the fixture's member."""
    conf_dir = tmp_path / "apiserver" / "etcd"
    conf_dir.mkdir(parents=True)
    (conf_dir / "etcd.conf.yaml").write_text(yaml.safe_dump(
        {"advertise-client-urls": etcd.urls[0]}))
    return tmp_path / "apiserver"


@pytest.fixture
def restored_member(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_save_ls_restore_into_a_fresh_data_dir(etcd: EtcdCluster, data_dir: Path,
                                               tmp_path: Path,
                                               restored_member: list[subprocess.Popen[bytes]]
                                               ) -> None:
    value = uuid.uuid4().hex
    etcdctl(etcd.urls[0], "put", "/registry/configmaps/ns/kept", value)
    saved = cli("save", "--data-dir", str(data_dir))
    assert saved.returncode == 0, saved.stderr
    [snap] = (data_dir / "snapshots").iterdir()
    assert snap.name.startswith("on-demand-") and saved.stdout == f"Snapshot {snap.name} saved.\n"
    assert snap.stat().st_mode & 0o777 == 0o600
    listed = cli("ls", "--data-dir", str(data_dir))
    assert listed.stdout.splitlines()[0].split() == ["Name", "Location", "Size", "Created"]
    assert listed.stdout.splitlines()[1].split()[:3] == [
        snap.name, f"file://{snap}", str(snap.stat().st_size)]

    fresh = tmp_path / "fresh"  # a new api-server data dir: its embedded etcd's config
    member = EmbeddedEtcd(EtcdConfig(data_dir=fresh / "etcd"))
    conf = member.write_config()
    (fresh / "etcd" / "data").mkdir()  # something to keep aside
    restored = cli("restore", "--data-dir", str(fresh), str(snap))
    assert restored.returncode == 0, restored.stderr
    assert [p.name.split("-")[0] for p in (fresh / "etcd").glob("data.old-*")] == ["data.old"]
    restored_member.append(subprocess.Popen([ETCD, "--config-file", str(conf)],
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
    url = member.client_url
    got = ""
    for _ in range(100):
        try:
            got = etcdctl(url, "get", "--print-value-only", "/registry/configmaps/ns/kept")
            break
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    assert got.strip() == value
    refused = cli("restore", "--data-dir", str(fresh), str(snap))
    assert refused.returncode != 0 and "stop the api-server first" in refused.stderr


def test_save_of_an_external_etcd(etcd: EtcdCluster, tmp_path: Path) -> None:
    """install.sh hosts run etcd as its own unit: --etcd-servers names it."""
    saved = cli("save", "--data-dir", str(tmp_path), "--etcd-servers", etcd.urls[0],
                "--name", "before-upgrade")
    assert saved.returncode == 0, saved.stderr
    assert [p.name.split("-")[:2] for p in (tmp_path / "snapshots").iterdir()] == [
        ["before", "upgrade"]]


def test_prune_keeps_the_newest_n(etcd: EtcdCluster, data_dir: Path) -> None:
    snaps = data_dir / "snapshots"
    snaps.mkdir()
    for ts in (100, 200, 300, 400):
        (snaps / f"on-demand-node-{ts}").write_bytes(b"x")
    (snaps / "etcd-snapshot-node-50").write_bytes(b"x")  # another name: not counted
    pruned = cli("prune", "--data-dir", str(data_dir), "--retention", "2")
    assert pruned.stdout.splitlines() == ["Removed snapshot on-demand-node-100",
                                          "Removed snapshot on-demand-node-200"]
    assert sorted(p.name for p in snaps.iterdir()) == [
        "etcd-snapshot-node-50", "on-demand-node-300", "on-demand-node-400"]


def test_the_api_server_snapshots_its_etcd_on_schedule_and_keeps_n(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(etcd_snapshot_interval=1, etcd_snapshot_retention=2)
    snaps = server.data_dir / "snapshots"
    seen: set[str] = set()
    deadline = time.monotonic() + 40
    while len(seen) < 4 and time.monotonic() < deadline:
        seen |= {p.name for p in snaps.glob("etcd-snapshot-*")} if snaps.is_dir() else set()
        time.sleep(0.2)
    for _ in range(20):  # not between a save and its prune
        names = sorted(p.name for p in snaps.glob("etcd-snapshot-*"))
        if len(names) == 2:
            break
        time.sleep(0.1)
    assert len(seen) >= 4 and len(names) == 2, (seen, names)  # the older ones pruned
    assert all((snaps / n).stat().st_mode & 0o777 == 0o600 for n in names)


async def test_one_member_restored_as_a_new_cluster_and_the_others_rejoin(
        etcd_factory: Callable[..., EtcdCluster], tmp_path: Path) -> None:
    cluster = etcd_factory(3, tls=True)
    assert cluster.pki is not None
    tls, urls = cluster.pki.client, cluster.urls
    etcdctl(urls[0], "put", "/registry/configmaps/ns/kept", "before", tls=tls)
    saved = cli("save", "--data-dir", str(tmp_path), "--etcd-servers", urls[0],
                "--etcd-cafile", str(tls.ca_file), "--etcd-certfile", str(tls.cert_file),
                "--etcd-keyfile", str(tls.key_file))
    assert saved.returncode == 0, saved.stderr
    [snap] = (tmp_path / "snapshots").iterdir()
    etcdctl(urls[0], "put", "/registry/configmaps/ns/later", "lost", tls=tls)
    first = cluster.members[0]
    refused = cli("restore", str(snap), "--peer-url", first.peer_url, "--member-name", "m0",
                  "--etcd-data-dir", str(first.data_dir))
    assert refused.returncode != 0 and "stop that etcd member first" in refused.stderr

    cluster.stop()  # every member lost
    restored = cli("restore", str(snap), "--peer-url", first.peer_url, "--member-name", "m0",
                   "--etcd-data-dir", str(first.data_dir))
    assert restored.returncode == 0, restored.stderr
    cluster.start(0)
    cluster.wait_healthy(0)
    assert [m.name for m in await members.members(urls[:1], tls)] == ["m0"]
    for i in (1, 2):  # each rejoins as a new member, its old data wiped
        member = cluster.members[i]
        shutil.rmtree(member.data_dir)
        member_id, initial = await members.add_learner(urls[:1], tls, member.name,
                                                       member.peer_url)
        cluster.start(i, joining=initial)
        await members.promote(urls[:1], tls, member_id, timeout=60)
        cluster.wait_healthy(i)
    assert sorted((m.name, m.is_learner) for m in await members.members(urls, tls)) == [
        ("m0", False), ("m1", False), ("m2", False)]
    etcdctl(urls[1], "put", "/registry/configmaps/ns/after", "yes", tls=tls)
    for url in urls:  # each member's own copy (serializable: no forwarding to the leader)
        got = etcdctl(url, "get", "--consistency=s", "--prefix", "/registry/", "--keys-only",
                      tls=tls)
        assert got.split() == ["/registry/configmaps/ns/after", "/registry/configmaps/ns/kept"]
