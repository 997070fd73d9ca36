"""Zone disruption states: how fast node lifecycle may start evicting, per zone.

Kubernetes' node lifecycle controller (pkg/controller/nodelifecycle) groups nodes by
their `topology.kubernetes.io/zone` label and rates the NoExecute tainting of
NotReady nodes per zone by the zone's state, so a failure of the control plane's
view of the nodes (a partition, a switch) does not evict the whole cluster:

- Normal: --node-eviction-rate nodes per second;
- PartialDisruption (more than 2 nodes NotReady and at least --unhealthy-zone-threshold
  of the zone): --secondary-node-eviction-rate in zones larger than
  --large-cluster-size-threshold, else none at all;
- FullDisruption (no node Ready): the normal rate while some other zone has a Ready
  node (the zone is presumed gone); when every zone is fully disrupted, the controller
  itself is presumed cut off: all evictions stop and the NoExecute taints already
  placed are removed, until a node comes back.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from minikube_py.api.meta import get_condition
from minikube_py.api.types import Object

ZONE_LABEL = "topology.kubernetes.io/zone"
# Nodes with this label count in no zone (Kubernetes' isNodeExcludedFromDisruptionChecks).
EXCLUDE_LABEL = "node.kubernetes.io/exclude-disruption"


class ZoneState(enum.Enum):
    NORMAL = "Normal"
    PARTIAL = "PartialDisruption"
    FULL = "FullDisruption"


@dataclass(frozen=True)
class DisruptionSettings:
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    unhealthy_zone_threshold: float = 0.55
    large_cluster_size_threshold: int = 50


def zone_of(node: Object) -> str:
    return str(((node.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL, ""))


def zone_state(ready: int, not_ready: int, threshold: float) -> ZoneState:
    """Kubernetes' ComputeZoneState."""
    if ready == 0 and not_ready > 0:
        return ZoneState.FULL
    if not_ready > 2 and not_ready / (ready + not_ready) >= threshold:
        return ZoneState.PARTIAL
    return ZoneState.NORMAL


def zone_states(nodes: Iterable[Object], threshold: float) -> dict[str, tuple[ZoneState, int]]:
    """Each zone's state and size; a node without a Ready condition counts as NotReady."""
    counts: dict[str, list[int]] = {}
    for node in nodes:
        if EXCLUDE_LABEL in ((node.get("metadata") or {}).get("labels") or {}):
            continue
        ready = (get_condition(node, "Ready") or {}).get("status") == "True"
        counts.setdefault(zone_of(node), [0, 0])[0 if ready else 1] += 1
    return {zone: (zone_state(r, n, threshold), r + n) for zone, (r, n) in counts.items()}


def eviction_rate(state: ZoneState, size: int, settings: DisruptionSettings) -> float:
    """Nodes per second whose pods may start being evicted (setLimiterInZone)."""
    if state is ZoneState.PARTIAL:
        return (settings.secondary_node_eviction_rate
                if size > settings.large_cluster_size_threshold else 0.0)
    return settings.node_eviction_rate


@dataclass
class ZoneGuard:
    """The zones' states as last computed and a token bucket (burst 1) per zone."""

    settings: DisruptionSettings
    states: dict[str, tuple[ZoneState, int]] = field(default_factory=dict)
    _next: dict[str, float] = field(default_factory=dict)

    def observe(self, nodes: Iterable[Object]) -> tuple[bool, bool]:
        """Recompute; returns (all zones fully disrupted now, and before)."""
        before = self.all_disrupted()
        self.states = zone_states(nodes, self.settings.unhealthy_zone_threshold)
        return self.all_disrupted(), before

    def all_disrupted(self) -> bool:
        return bool(self.states) and all(s is ZoneState.FULL for s, _ in self.states.values())

    def take(self, zone: str, now: float | None = None) -> float | None:
        """Take the zone's token: None if taken, else seconds until one may be (inf: never)."""
        if self.all_disrupted():
            return float("inf")
        state, size = self.states.get(zone, (ZoneState.NORMAL, 0))
        rate = eviction_rate(state, size, self.settings)
        if rate <= 0:
            return float("inf")
        now = time.monotonic() if now is None else now
        due = self._next.get(zone, now)
        if due > now:
            return due - now
        self._next[zone] = now + 1 / rate
        return None
