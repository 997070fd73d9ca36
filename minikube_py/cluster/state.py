"""The record of the cluster running on this host, and the host-wide lock.

Only one cluster runs per host (they would fight over port 6443, dockerd's containers and
/etc/minikube-py/admin.conf). `cluster.json` says which kind runs and what it is made of,
so `down`, `status` and `lab exec` work from any later shell without flags.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from minikube_py.cluster.paths import ClusterPaths

Kind = Literal["single", "lab", "node"]  # node: a host that joined a cluster


@dataclasses.dataclass
class NodeRecord:
    """A node the cluster runs an agent for; `netns` is None when it is the host itself."""

    name: str
    ip: str
    netns: str | None = None
    iface: str | None = None  # the underlay interface the overlay uses (None: route to api)
    control_plane: bool = False  # an HA lab's control-plane node (cluster/ha.py)


@dataclasses.dataclass
class ClusterState:
    """What `up` / `lab up` made; written before the first process starts."""

    kind: Kind
    api_port: int
    nodes: list[NodeRecord]
    lab_bridge: str | None = None
    lab_cidr: str | None = None
    server: str | None = None  # node: the api-server it joined
    vip: str | None = None  # an HA lab's floating API address

    @property
    def is_lab(self) -> bool:
        return self.kind == "lab"

    def node(self, name: str) -> NodeRecord | None:
        return next((n for n in self.nodes if n.name == name), None)

    def save(self, paths: ClusterPaths) -> None:
        write_json(paths.cluster_file, dataclasses.asdict(self))

    @classmethod
    def load(cls, paths: ClusterPaths) -> ClusterState | None:
        """The recorded cluster, or None if none was ever started (or it was purged)."""
        try:
            raw = json.loads(paths.cluster_file.read_text())
        except FileNotFoundError:
            return None
        raw["nodes"] = [NodeRecord(**n) for n in raw.get("nodes", [])]
        return cls(**raw)


def write_json(path: Path, data: object) -> None:
    """Atomic write (tmp + rename), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def host_lock(paths: ClusterPaths) -> Iterator[None]:
    """Exclusive lock so two `up`/`down` runs never interleave on one host."""
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.lock_file, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
