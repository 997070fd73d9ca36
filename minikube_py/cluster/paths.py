"""Where a cluster keeps its state, logs and configuration on the host.

One dataclass so tests can put a whole cluster under a temporary root instead of
patching globals; the defaults are the paths the README and the systemd units use.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

ADMIN_CONF = Path("/etc/minikube-py/admin.conf")


@dataclasses.dataclass(frozen=True)
class ClusterPaths:
    """The three directories of a cluster and the files in them."""

    state_dir: Path = Path("/var/lib/minikube-py")
    log_dir: Path = Path("/var/log/minikube-py")
    config_dir: Path = Path("/etc/minikube-py")

    @classmethod
    def under(cls, root: Path) -> ClusterPaths:
        """All three directories below `root` (tests, side-by-side experiments)."""
        return cls(root / "state", root / "log", root / "etc")

    @property
    def admin_conf(self) -> Path:
        """The admin kubeconfig users point kubectl at."""
        return self.config_dir / "admin.conf"

    @property
    def cluster_file(self) -> Path:
        """What kind of cluster runs here and how it was made (`state.ClusterState`)."""
        return self.state_dir / "cluster.json"

    @property
    def plan_file(self) -> Path:
        """The component processes the supervisor runs (`components.Component`)."""
        return self.state_dir / "plan.json"

    @property
    def status_file(self) -> Path:
        """The supervisor's live view of its children, rewritten on every change."""
        return self.state_dir / "status.json"

    @property
    def supervisor_pid(self) -> Path:
        return self.state_dir / "supervisor.pid"

    @property
    def dockerd_pid(self) -> Path:
        """Present only when we started dockerd, so `down` stops only a dockerd of ours."""
        return self.state_dir / "dockerd.pid"

    @property
    def lock_file(self) -> Path:
        """Serialises `up`, `down` and `lab` commands on one host."""
        return self.state_dir / "lock"

    def apiserver_dir(self, lab: bool) -> Path:
        """The api-server's data dir (etcd, pki, admin.conf); a lab has its own, thrown away."""
        return self.state_dir / ("lab/apiserver" if lab else "apiserver")

    def node_dir(self, node: str, lab: bool) -> Path:
        """Per-node files: kubeconfig, CNI config, IPAM leases (never shared by two nodes)."""
        return self.state_dir / ("lab/nodes" if lab else "nodes") / node

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"
