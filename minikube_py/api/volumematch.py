"""Which PersistentVolume a claim binds to (the PV binder) or could bind to on a node
(the scheduler's VolumeBinding filter) (pv_controller's findBestMatchForClaim):
the smallest volume that is free (or pre-bound to this claim), of the claim's class,
volume mode and access modes, at least as large as the request, whose labels the
claim's selector matches and, once a node was chosen, reachable from that node.
A volume pre-bound to the claim (claimRef) or named by it (volumeName) wins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from minikube_py.api.nodeaffinity import term_matches
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object
from minikube_py.api.volumes import storage_of


def claim_class(claim: Mapping[str, object]) -> str:
    spec = claim.get("spec")
    return str((spec or {}).get("storageClassName") or "") if isinstance(spec, dict) else ""


def requested(claim: Object) -> Decimal:
    return storage_of((claim["spec"].get("resources") or {}).get("requests")) or Decimal(0)


def node_allows(volume: Object, node: Object | None) -> bool:
    """Volume node affinity holds on `node` (always, for a volume without one)."""
    terms = (((volume["spec"].get("nodeAffinity") or {}).get("required") or {})
             .get("nodeSelectorTerms"))
    if not terms:
        return True
    if node is None:
        return False
    labels = node["metadata"].get("labels") or {}
    return any(term_matches(t, labels, node["metadata"]["name"]) for t in terms)


def prebound_to(volume: Object, claim: Object) -> bool:
    ref = volume["spec"].get("claimRef") or {}
    return bool(ref) and ref.get("name") == claim["metadata"]["name"] and \
        ref.get("namespace") == claim["metadata"].get("namespace") and \
        ref.get("uid") in (None, "", claim["metadata"].get("uid"))


def fits(volume: Object, claim: Object, node: Object | None = None, *,
         check_node: bool = False) -> bool:
    """Everything but availability: class, mode, access modes, size, selector, node."""
    spec, want = volume["spec"], claim["spec"]
    if str(spec.get("storageClassName") or "") != claim_class(claim):
        return False
    if (spec.get("volumeMode") or "Filesystem") != (want.get("volumeMode") or "Filesystem"):
        return False
    if not set(want.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    capacity = storage_of(spec.get("capacity"))
    if capacity is None or capacity < requested(claim):
        return False
    if want.get("selector") is not None:
        try:
            selector = LabelSelector.from_dict(want["selector"])
        except ValueError:
            return False
        if not selector.matches(volume["metadata"].get("labels") or {}):
            return False
    return not check_node or node_allows(volume, node)


def best_match(volumes: Iterable[Object], claim: Object, node: Object | None = None, *,
               check_node: bool = False) -> Object | None:
    """The volume to bind `claim` to, or None."""
    name = claim["spec"].get("volumeName")
    candidates = []
    for volume in volumes:
        if volume["metadata"].get("deletionTimestamp"):
            continue
        if name and volume["metadata"]["name"] != name:
            continue
        ref = volume["spec"].get("claimRef")
        if ref and not prebound_to(volume, claim):
            continue
        if not fits(volume, claim, node, check_node=check_node):
            continue
        if ref and prebound_to(volume, claim):
            return volume
        candidates.append(volume)
    if not candidates:
        return None
    return min(candidates, key=lambda v: (storage_of(v["spec"].get("capacity")) or 0,
                                          v["metadata"]["name"]))
