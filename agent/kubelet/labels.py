"""Docker labels: the only memory the kubelet keeps on the host.

Every container carries its pod's identity and the node it belongs to, so a restarted
agent rebuilds its view of the world from `docker ps` alone, and agents sharing one
dockerd (the lab's nodes) never touch each other's containers. The restart count lives
in a label too: it survives the agent, as Kubernetes' does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

POD_UID = "io.kubernetes.pod.uid"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_NAME = "io.kubernetes.pod.name"
CONTAINER_NAME = "io.kubernetes.container.name"
NODE = "minikube-py.node"
KIND = "io.minikube-py.kind"            # sandbox | init | app
RESTART_COUNT = "io.minikube-py.restart-count"
SANDBOX_ID = "io.minikube-py.sandbox-id"
GRACE_PERIOD = "io.minikube-py.grace-period"
SPEC_HASH = "io.minikube-py.spec-hash"
TERMINATION_POLICY = "io.minikube-py.termination-message-policy"

SANDBOX = "sandbox"
INIT = "init"
APP = "app"
SANDBOX_CONTAINER_NAME = "POD"
DEFAULT_GRACE = 30


def for_pod(pod: dict[str, Any], node: str) -> dict[str, str]:
    meta = pod["metadata"]
    return {POD_UID: meta["uid"], POD_NAMESPACE: meta["namespace"], POD_NAME: meta["name"],
            NODE: node}


def spec_hash(container: dict[str, Any]) -> str:
    """A container spec's fingerprint: a running container whose spec changed (a new image)
    is replaced, as kubelet does with its container hash."""
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:16]


def for_container(pod: dict[str, Any], node: str, *, kind: str, name: str, restart_count: int,
                  sandbox_id: str = "", spec: dict[str, Any] | None = None) -> dict[str, str]:
    labels = for_pod(pod, node)
    labels.update({KIND: kind, CONTAINER_NAME: name, RESTART_COUNT: str(restart_count),
                   GRACE_PERIOD: str(pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE))})
    if sandbox_id:
        labels[SANDBOX_ID] = sandbox_id
    if spec is not None:
        labels[SPEC_HASH] = spec_hash(spec)
        labels[TERMINATION_POLICY] = spec.get("terminationMessagePolicy", "File")
    return labels


def docker_name(pod: dict[str, Any], container: str, attempt: int) -> str:
    """dockershim's naming: unique per attempt, readable in `docker ps`."""
    meta = pod["metadata"]
    return f"k8s_{container}_{meta['name']}_{meta['namespace']}_{meta['uid']}_{attempt}"


@dataclass(frozen=True)
class Observed:
    """One container as `docker ps` shows it, reduced to what the sync loop needs."""

    id: str
    pod_uid: str
    namespace: str
    pod_name: str
    kind: str
    name: str
    restart_count: int
    sandbox_id: str
    running: bool
    created: int
    spec_hash: str = ""
    grace: int = DEFAULT_GRACE

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> Observed:
        lb = summary.get("Labels") or {}
        return cls(id=summary["Id"], pod_uid=lb.get(POD_UID, ""),
                   namespace=lb.get(POD_NAMESPACE, ""), pod_name=lb.get(POD_NAME, ""),
                   kind=lb.get(KIND, APP), name=lb.get(CONTAINER_NAME, ""),
                   restart_count=int(lb.get(RESTART_COUNT, "0") or 0),
                   sandbox_id=lb.get(SANDBOX_ID, ""),
                   running=summary.get("State") == "running",
                   created=int(summary.get("Created", 0)), spec_hash=lb.get(SPEC_HASH, ""),
                   grace=int(lb.get(GRACE_PERIOD) or DEFAULT_GRACE))
