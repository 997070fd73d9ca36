"""The ServiceAccount admission plugin: a new pod gets its service account's credentials as
Kubernetes (>= 1.22) gives them, a projected `kube-api-access-<suffix>` volume mounted
read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container:

- a serviceAccountToken source (bound to the pod, 3607 s, refreshed by the kubelet),
- the cluster CA from the namespace's kube-root-ca.crt ConfigMap,
- the namespace, through the downward API.

Nothing is added when `automountServiceAccountToken: false` is set on the pod or, if the
pod says nothing, on its ServiceAccount, nor to a container that already mounts something
at that path. Unlike Kubernetes, which refuses it, a pod whose ServiceAccount does not
exist (yet: the controller-manager makes `default`, and an api-server may run alone) is
admitted without credentials rather than refused.

The account comes from the credential index (its watch), as kube's plugin reads its
ServiceAccount lister; one the index does not hold yet is read from etcd.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minikube_py.api.meta import generated_name
from minikube_py.api.shape import as_list
from minikube_py.api.types import Object
from minikube_py.apiserver.state import CREDENTIALS

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_SECONDS = 3607  # Kubernetes' default: an hour, plus 7 s that mark it as kubelet-made


def projected_volume(name: str) -> Object:
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt",
                                                               "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers") for c in as_list(spec.get(key))
            if isinstance(c, dict)]


def _mounts_token_path(container: dict[str, Any]) -> bool:
    mounts = container.get("volumeMounts")
    return isinstance(mounts, list) and any(
        isinstance(m, dict) and m.get("mountPath") == MOUNT_PATH for m in mounts)


async def _automount(app: web.Application, namespace: str, spec: dict[str, Any]) -> bool:
    """Whether the pod gets credentials: its own say, else its account's; none without
    an account."""
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    if not isinstance(account, str) or spec.get("automountServiceAccountToken") is False:
        return False  # validation refuses a non-string name
    sa = await app[CREDENTIALS].account(namespace, account)
    if sa is None:
        return False
    return spec.get("automountServiceAccountToken") is True or sa.automount is not False


async def admit_pod(app: web.Application, namespace: str, pod: Object) -> None:
    """Add the service-account volume and mounts to a pod about to be created."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or not await _automount(app, namespace, spec):
        return
    containers = [c for c in _containers(spec) if not _mounts_token_path(c)]
    if not containers:
        return
    volumes = spec.get("volumes")
    if volumes is None:
        volumes = spec["volumes"] = []
    if not isinstance(volumes, list):
        return  # validation refuses it
    name = generated_name(VOLUME_PREFIX)
    volumes.append(projected_volume(name))
    for container in containers:
        mounts = container.get("volumeMounts")
        if mounts is None:
            mounts = container["volumeMounts"] = []
        if isinstance(mounts, list):
            mounts.append({"name": name, "readOnly": True, "mountPath": MOUNT_PATH})
