"""Taints and tolerations: one matching rule shared by the scheduler (placement),
the node-lifecycle controller (NoExecute eviction) and the agent (registration).

Taints and tolerations are the Kubernetes JSON dicts (api.types.Taint and Toleration).
"""

from __future__ import annotations

from collections.abc import Iterable

from minikube_py.api.types import Taint, Toleration

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_taint(text: str) -> Taint:
    """Parse `key[=value]:Effect` (the kubectl / --register-with-taints syntax)."""
    spec, sep, effect = text.rpartition(":")
    if not sep or not spec:
        raise ValueError(f"taint {text!r}: expected key[=value]:Effect")
    if effect not in EFFECTS:
        raise ValueError(f"taint {text!r}: effect must be one of {', '.join(EFFECTS)}")
    key, _, value = spec.partition("=")
    if not key:
        raise ValueError(f"taint {text!r}: empty key")
    return {"key": key, "value": value, "effect": effect}


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' ToleratesTaint: empty key with Exists tolerates everything."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(
    taints: Iterable[Taint], tolerations: list[Toleration], effects: tuple[str, ...]
) -> Taint | None:
    """The first taint with one of `effects` that no toleration tolerates, if any."""
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def toleration_seconds(taints: Iterable[Taint], tolerations: list[Toleration]) -> float | None:
    """How long a pod may stay on a node with these NoExecute taints.

    0 when some taint is not tolerated, None when every taint is tolerated
    forever, else the smallest tolerationSeconds among the matching tolerations
    (Kubernetes' getMinTolerationTime).
    """
    least: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        for t in matching:
            seconds = t.get("tolerationSeconds")
            if seconds is not None:
                value = max(float(seconds), 0.0)
                least = value if least is None else min(least, value)
    return least
