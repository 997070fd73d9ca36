"""The `local-path` provisioner (as k3s's local-path-provisioner): a hostPath volume
in a directory of its own under the storage root on the node the scheduler chose,
pinned there by node affinity. Only the node can touch its own disk (the
controller-manager may run on another host), so the node's agent does the disk work:
the kubelet makes the directory when a pod first mounts it (DirectoryOrCreate), and
the agent's sweep (agent/kubelet/localpath.py) removes directories whose volume is gone
(a Delete reclaim deleted it). No helper pod, no write right on volumes for nodes."""

from __future__ import annotations

import re
from decimal import Decimal

from minikube_py.api.quantity import format_quantity
from minikube_py.api.storageclass import LOCAL_PATH_PROVISIONER, LOCAL_PATH_ROOT
from minikube_py.api.types import Object
from minikube_py.api.volumes import storage_of

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
HOSTNAME_LABEL = "kubernetes.io/hostname"
_UNSAFE = re.compile(r"[^a-z0-9.-]")


def volume_name(claim: Object) -> str:
    """pvc-<claim uid>, as Kubernetes names provisioned volumes."""
    return f"pvc-{claim['metadata']['uid']}"


def directory(root: str, claim: Object) -> str:
    """<root>/pvc-<uid>_<namespace>_<name>; namespace and name are DNS names already,
    and anything but [a-z0-9.-] is replaced, so no part can be '..' or hold a '/'."""
    parts = [volume_name(claim), claim["metadata"]["namespace"], claim["metadata"]["name"]]
    safe = "_".join(_UNSAFE.sub("-", p.lower()).strip(".") or "-" for p in parts)
    return f"{root.rstrip('/')}/{safe}"


def volume_for(claim: Object, storage_class: Object, node: str) -> Object:
    """The PersistentVolume provisioned for `claim` on `node`, pre-bound to it; the class
    parameter `nodePath` moves the storage root (the api-server refuses a relative one)."""
    root = str((storage_class.get("parameters") or {}).get("nodePath") or LOCAL_PATH_ROOT)
    size = storage_of((claim["spec"].get("resources") or {}).get("requests")) or Decimal(0)
    meta = claim["metadata"]
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
        "name": volume_name(claim), "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER}},
        "spec": {
            "capacity": {"storage": format_quantity(size, binary=True)},
            "accessModes": list(claim["spec"].get("accessModes") or []),
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": claim["spec"].get("volumeMode") or "Filesystem",
            "hostPath": {"path": directory(root, claim), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]}}}

