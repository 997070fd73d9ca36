"""Proportional scaling: what Kubernetes' deployment controller does when
spec.replicas changes while a rollout is under way (sync.go `scale`,
`GetProportion`, `getReplicaSetFraction`).

Without it a scale-up mid-rollout lands entirely on the new ReplicaSet and a
scale-down entirely on whichever set the rollout shrinks next, so the mix of
old and new pods jumps. Instead every active set grows or shrinks by its share:
its size times (new replicas + maxSurge) / the max-replicas annotation it was
last scaled with; rounding leftovers go to the largest set. Pure functions;
the controller applies the sizes.
"""

from __future__ import annotations

import math

from minikube_py.api.types import Object
from minikube_py.controllers import deployment_util as du


def _annotation(rs: Object, name: str) -> int | None:
    value = ((rs.get("metadata") or {}).get("annotations") or {}).get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def is_scaling_event(deployment: Object, replica_sets: list[Object]) -> bool:
    """An active set was last sized for another spec.replicas (isScalingEvent)."""
    replicas = du.spec_replicas(deployment)
    for rs in replica_sets:
        desired = _annotation(rs, du.DESIRED_REPLICAS)
        if du.spec_replicas(rs) > 0 and desired is not None and desired != replicas:
            return True
    return False


def _fraction(rs: Object, deployment: Object) -> int:
    """How far this set would move if it alone followed the scale (getReplicaSetFraction)."""
    size = du.spec_replicas(rs)
    replicas = du.spec_replicas(deployment)
    if replicas == 0:
        return -size
    surge, _ = du.fenceposts(deployment)
    before = _annotation(rs, du.MAX_REPLICAS)
    if not before:  # edited away: fall back to the deployment's current size
        before = du.status_of(deployment, "replicas")
    if not before:
        return 0
    return math.floor(size * (replicas + surge) / before + 0.5) - size  # Go's math.Round


def _proportion(rs: Object, deployment: Object, to_add: int, added: int) -> int:
    """GetProportion: the set's fraction, capped by what is still left to add or remove."""
    if du.spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    allowed = to_add - added
    fraction = _fraction(rs, deployment)
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(deployment: Object, new_rs: Object | None,
                       olds: list[Object]) -> dict[str, int]:
    """Target size per ReplicaSet name for a scaling event (sync.go `scale`).

    `olds` oldest first. Every set that was looked at appears, even at its current size,
    so the caller rewrites its desired/max-replicas annotations (else the scaling event
    would be seen again and again).
    """
    replicas = du.spec_replicas(deployment)
    everything = olds + ([new_rs] if new_rs is not None else [])
    active = [rs for rs in everything if du.spec_replicas(rs) > 0]
    if len(active) <= 1:  # one active (or none: the newest) takes everything
        target = active[0] if active else (new_rs if new_rs is not None else
                                           (olds[-1] if olds else None))
        if target is None:
            return {}
        return {target["metadata"]["name"]: replicas}
    if (new_rs is not None and _annotation(new_rs, du.DESIRED_REPLICAS) == replicas
            and du.spec_replicas(new_rs) == replicas
            and du.status_of(new_rs, "availableReplicas") == replicas):
        return {rs["metadata"]["name"]: 0 for rs in olds if du.spec_replicas(rs) > 0}
    surge, _ = du.fenceposts(deployment)
    allowed = replicas + surge if replicas > 0 else 0
    to_add = allowed - sum(du.spec_replicas(rs) for rs in active)
    age = {id(rs): i for i, rs in enumerate(everything)}
    # Largest first; on a tie, newer first when growing and older first when shrinking.
    active.sort(key=lambda rs: (-du.spec_replicas(rs),
                                -age[id(rs)] if to_add > 0 else age[id(rs)]))
    sizes: dict[str, int] = {}
    added = 0
    for rs in active:
        proportion = _proportion(rs, deployment, to_add, added)
        sizes[rs["metadata"]["name"]] = du.spec_replicas(rs) + proportion
        added += proportion
    if to_add:
        largest = active[0]["metadata"]["name"]
        sizes[largest] = max(sizes[largest] + to_add - added, 0)
    return sizes
