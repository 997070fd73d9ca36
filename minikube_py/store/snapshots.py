"""etcd snapshots of the api-server's embedded etcd, named and kept as k3s keeps them.

A snapshot is `etcdctl snapshot save` of the member, written as
<data-dir>/snapshots/<name>-<node>-<unix seconds> (0600: it holds every Secret);
`on-demand` for `minikube-py etcd snapshot save`, `etcd-snapshot` for the api-server's
schedule. `prune` keeps the newest N of a name. `restore` turns a snapshot into a new
single-member data dir (`etcdctl snapshot restore`: Debian's etcd-client 3.4 has no
etcdutl) in place of D/etcd/data, which is kept aside; the member's peer URL and cluster
token are the embedded etcd's, so the api-server starts on it unchanged. `restore_member`
does the same for one member of a cluster run on its own (install.sh's etcd unit, the
lab): etcd's disaster recovery makes it the only member of a new cluster, and the others
rejoin it as new members with their data wiped (`etcd member add`, then `promote`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from minikube_py.store.etcdtls import EtcdTLS

log = logging.getLogger(__name__)

ON_DEMAND = "on-demand"
SCHEDULED = "etcd-snapshot"
CLUSTER_TOKEN = "minikube-py"  # embedded.EmbeddedEtcd's initial-cluster-token
_NAME = re.compile(r"^(?P<prefix>.+)-(?P<ts>\d+)$")


class SnapshotError(Exception):
    """A snapshot operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    path: Path
    size: int
    created: int  # unix seconds, from the name

    @property
    def prefix(self) -> str:
        """The name without its timestamp: what prune keeps N of."""
        return self.name.rsplit("-", 1)[0]


def snapshot_dir(data_dir: Path) -> Path:
    return data_dir / "snapshots"


def _etcd_conf(data_dir: Path) -> dict[str, object]:
    path = data_dir / "etcd" / "etcd.conf.yaml"
    if not path.exists():
        raise SnapshotError(f"{path}: no embedded etcd here (is --data-dir the api-server's?)")
    conf = yaml.safe_load(path.read_text()) or {}
    return dict(conf)


def client_url(data_dir: Path) -> str:
    return str(_etcd_conf(data_dir)["advertise-client-urls"])


def _etcdctl(*args: str) -> str:
    binary = shutil.which("etcdctl")
    if binary is None:
        raise SnapshotError("etcdctl not found: install Debian's etcd-client")
    done = subprocess.run([binary, *args], env={**os.environ, "ETCDCTL_API": "3"},
                          capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise SnapshotError(f"etcdctl {args[0]} {args[1]}: {done.stderr.strip()}")
    return done.stdout


def save(endpoint: str, directory: Path, prefix: str = ON_DEMAND,
         node: str | None = None, tls: EtcdTLS | None = None) -> Snapshot:
    """Stream the member's database into directory; the file appears complete or not at all."""
    if not prefix or "/" in prefix or prefix.startswith((".", "-")) or \
            any(c.isspace() for c in prefix):
        raise SnapshotError(f"snapshot name {prefix!r}: must be a plain file name prefix "
                            "(no '/', no leading '.' or '-')")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{prefix}-{node or socket.gethostname()}-{int(time.time())}"
    path = directory / name
    partial = directory / f".{name}.part"
    try:
        _etcdctl("snapshot", "save", str(partial), "--endpoints", endpoint,
                 *(tls.etcdctl_args() if tls is not None else ()))
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        Path(f"{partial}.part").unlink(missing_ok=True)  # etcdctl's own temporary file
    snap = _snapshot(path)
    log.info("etcd snapshot saved path=%s size=%d", path, snap.size)
    return snap


def _snapshot(path: Path) -> Snapshot:
    match = _NAME.match(path.name)
    created = int(match["ts"]) if match else int(path.stat().st_mtime)
    return Snapshot(path.name, path, path.stat().st_size, created)


def ls(directory: Path) -> list[Snapshot]:
    """The snapshots, oldest first."""
    if not directory.is_dir():
        return []
    snaps = [_snapshot(p) for p in directory.iterdir()
             if p.is_file() and not p.name.startswith(".")]
    return sorted(snaps, key=lambda s: (s.created, s.name))


def prune(directory: Path, retention: int, prefix: str = ON_DEMAND) -> list[Snapshot]:
    """Delete all but the newest `retention` snapshots named prefix-*; returns the deleted."""
    if retention < 1:
        raise SnapshotError(f"retention {retention}: at least one snapshot is kept")
    mine = [s for s in ls(directory) if s.prefix.startswith(f"{prefix}-")]
    doomed = mine[:-retention]
    for snap in doomed:
        snap.path.unlink(missing_ok=True)
        log.info("etcd snapshot pruned path=%s", snap.path)
    return doomed


def _serving(url: str) -> bool:
    host, port = url.rsplit("//", 1)[-1].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def restore(snapshot: Path, data_dir: Path) -> Path:
    """A new single-member etcd from the snapshot as D/etcd/data; the old data is renamed
    to data.old-<unix seconds>, not deleted. Refuses while the embedded etcd serves."""
    conf = _etcd_conf(data_dir)
    if _serving(str(conf["advertise-client-urls"])):
        raise SnapshotError("the api-server's etcd is running: stop the api-server first")
    return restore_member(snapshot, Path(str(conf["data-dir"])),
                          name=str(conf.get("name", "default")),
                          peer_url=str(conf["initial-advertise-peer-urls"]))


def restore_member(snapshot: Path, target: Path, *, name: str, peer_url: str,
                   token: str = CLUSTER_TOKEN) -> Path:
    """The member `name` at `peer_url`, alone in a new cluster holding the snapshot, as the
    data dir `target` (an existing one is renamed to <target>.old-<unix seconds>). Refuses
    while something serves on the peer URL: that member's etcd is still running."""
    if not snapshot.is_file():
        raise SnapshotError(f"{snapshot}: no such snapshot")
    if _serving(peer_url):
        raise SnapshotError(f"something serves on {peer_url}: stop that etcd member first")
    staging = target.with_name(f".{target.name}.restore")
    shutil.rmtree(staging, ignore_errors=True)
    # Absolute, so a file named like an option ("-x") is never read as one by etcdctl.
    _etcdctl("snapshot", "restore", str(snapshot.resolve()), "--data-dir", str(staging),
             "--name", name,
             "--initial-cluster", f"{name}={peer_url}", "--initial-advertise-peer-urls", peer_url,
             "--initial-cluster-token", token)
    if target.exists():
        target.rename(target.with_name(f"{target.name}.old-{int(time.time())}"))
    staging.rename(target)
    os.chmod(target, 0o700)
    log.info("etcd snapshot restored snapshot=%s data_dir=%s", snapshot, target)
    return target


async def snapshot_forever(endpoint: str, directory: Path, interval: float,
                           retention: int, tls: EtcdTLS | None = None) -> None:
    """k3s's scheduled snapshots: one every `interval`, the newest `retention` kept. A
    failed one is logged and the next tried on schedule (etcd may be briefly away)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(save, endpoint, directory, SCHEDULED, None, tls)
            await asyncio.to_thread(prune, directory, retention, SCHEDULED)
        except (SnapshotError, OSError, subprocess.SubprocessError) as e:
            log.warning("scheduled etcd snapshot failed error=%s", e)
