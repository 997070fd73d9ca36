"""What the DaemonSet controller decides per node (pure, as Kubernetes'
daemon/util and the controller's nodeShouldRunDaemonPod): the tolerations every
daemon pod gets, whether a node wants a daemon pod, the pod pinned to a node
by node affinity (the scheduler binds it, as since Kubernetes 1.12)."""

from __future__ import annotations

import copy

from minikube_py.api.meta import owner_reference
from minikube_py.api.nodeaffinity import required_matches
from minikube_py.api.taints import untolerated
from minikube_py.api.types import Object, Taint, Toleration
from minikube_py.controllers.history import HASH_LABEL

GENERATION_LABEL = "pod-template-generation"

# AddOrUpdateDaemonPodTolerations: daemons stay through node trouble and cordons.
_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", "NoSchedule")


def with_daemon_tolerations(spec: Object) -> Object:
    """The pod spec plus the automatic tolerations it does not have yet."""
    out = copy.deepcopy(spec)
    tolerations = out.setdefault("tolerations", [])
    wanted = list(_TOLERATIONS)
    if out.get("hostNetwork"):
        wanted.append(_HOST_NETWORK_TOLERATION)
    for key, effect in wanted:
        toleration = {"key": key, "operator": "Exists", "effect": effect}
        if toleration not in tolerations:
            tolerations.append(toleration)
    return out


def _node_taints(node: Object) -> list[Taint]:
    taints: list[Taint] = list((node.get("spec") or {}).get("taints") or [])
    if (node.get("spec") or {}).get("unschedulable"):
        taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
    return taints


def should_run(ds: Object, node: Object) -> tuple[bool, bool]:
    """(should run a new daemon pod, should keep a running one) on `node`."""
    spec = with_daemon_tolerations(((ds["spec"].get("template") or {}).get("spec")) or {})
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    terms = affinity.get("nodeSelectorTerms") if isinstance(affinity, dict) else None
    labels = node["metadata"].get("labels") or {}
    if not required_matches(spec.get("nodeSelector") or {}, terms, labels,
                            node["metadata"]["name"]):
        return False, False
    taints = _node_taints(node)
    tolerations: list[Toleration] = spec.get("tolerations") or []
    keep = untolerated(taints, tolerations, ("NoExecute",)) is None
    run = keep and untolerated(taints, tolerations, ("NoSchedule",)) is None
    return run, keep


def target_node(pod: Object) -> str | None:
    """The node a daemon pod is for: its nodeName, or the node its affinity pins."""
    name = (pod.get("spec") or {}).get("nodeName")
    if name:
        return str(name)
    terms = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and \
                    len(field.get("values") or []) == 1:
                return str(field["values"][0])
    return None


def pod_for(ds: Object, node_name: str, revision_hash: str) -> Object:
    """A daemon pod for one node: the template, the revision label, the tolerations,
    and node affinity replaced by one term naming the node
    (ReplaceDaemonSetPodNodeNameNodeAffinity)."""
    template = ds["spec"].get("template") or {}
    meta = template.get("metadata") or {}
    spec = with_daemon_tolerations(template.get("spec") or {})
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    labels = {**(meta.get("labels") or {}), HASH_LABEL: revision_hash,
              GENERATION_LABEL: str(ds["metadata"].get("generation", 1))}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "generateName": f"{ds['metadata']['name']}-", "namespace": ds["metadata"]["namespace"],
        "labels": labels, "annotations": dict(meta.get("annotations") or {}),
        "ownerReferences": [owner_reference(ds)]}, "spec": spec}

