"""The `local-path` provisioner (as k3s's local-path-provisioner): a hostPath volume
in a directory of its own under the storage root on the node the scheduler chose,
pinned there by node affinity, with a cleanup finalizer that the node's agent removes
once it deleted the directory (agent/kubelet/localpath_cleanup.py). The directory
itself is made by the kubelet when a pod first mounts it (DirectoryOrCreate): only
the node can touch its own disk, and the controller-manager may run elsewhere."""

from __future__ import annotations

import re
from decimal import Decimal

from minikube_py.api.quantity import format_quantity
from minikube_py.api.storageclass import LOCAL_PATH_PROVISIONER
from minikube_py.api.types import Object
from minikube_py.api.volumes import storage_of

DEFAULT_ROOT = "/var/lib/minikube-py/storage"
CLEANUP_FINALIZER = "minikube-py.io/local-path-cleanup"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
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
    root = str((storage_class.get("parameters") or {}).get("nodePath") or DEFAULT_ROOT)
    size = storage_of((claim["spec"].get("resources") or {}).get("requests")) or Decimal(0)
    meta = claim["metadata"]
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
        "name": volume_name(claim), "annotations": {PROVISIONED_BY: LOCAL_PATH_PROVISIONER},
        "finalizers": [CLEANUP_FINALIZER]},
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

