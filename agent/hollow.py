"""Hollow nodes: Nodes, Leases and pod statuses written as real agents write them, with
no container runtime (Kubernetes' kubemark hollow kubelet).

For measuring and testing the control plane at a scale one host cannot run for real
(bench/scheduler.py registers a thousand) and for integration tests of the scheduler
and controllers: what they see is what agents write; only the containers are missing.
`stop(name)` silences a node's heartbeat, which is how a test makes a node fail. It
lives in the package, not in tests/ or bench/, because both use it and it must follow
the kubelet's writes (agent/kubelet/node.py, status.py) when those change.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Coroutine
from typing import Any

from minikube_py.api.meta import micro_time, now_rfc3339
from minikube_py.api.resources import LEASES, NODES, PODS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, Informer
from minikube_py.client.errors import ClientError, NotFound

NODE_LEASES = "kube-node-lease"


def node_object(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
                labels: dict[str, str] | None = None,
                taints: list[Object] | None = None) -> Object:
    """A Ready Node with this capacity, labelled hollow=true."""
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    now = now_rfc3339()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                              "hollow": "true", **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "hollow node is posting ready status",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "addresses": [{"type": "Hostname", "address": name}],
        },
    }


async def register_node(client: ApiClient, body: Object) -> None:
    """Create the Node, then write its status (create may drop status, as for pods)."""
    created = await client.create(NODES, body)
    if created.get("status", {}).get("conditions") != body["status"]["conditions"]:
        await client.patch(NODES, body["metadata"]["name"], {"status": body["status"]},
                           patch_type="merge", subresource="status")


class HollowNodes:
    """Nodes this owner registered; `run()` heartbeats them and runs their pods."""

    def __init__(self, client: ApiClient, *, prefix: str | None = None,
                 lease_interval: float = 2.0, run_pods: bool = True) -> None:
        self.client = client
        self.prefix = prefix or f"hollow-{uuid.uuid4().hex[:6]}"
        self.lease_interval = lease_interval
        self.run_pods = run_pods
        self.names: list[str] = []
        self.alive: set[str] = set()
        self.pods = Informer(client, PODS)
        self.pods.add_handlers(self._pod_seen, lambda old, new: self._pod_seen(new))
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, suffix: str, **kwargs: Any) -> str:
        name = f"{self.prefix}-{suffix}"
        await register_node(self.client, node_object(name, **kwargs))
        self.names.append(name)
        await self._renew(name)  # before the heartbeat loop may: two creates would race
        self._come_alive(name)
        return name

    def stop(self, name: str) -> None:
        """The node goes silent: no Lease renewals, no pod updates."""
        self.alive.discard(name)

    async def resume(self, name: str) -> None:
        """Heartbeats again and reports Ready, as an agent does when it comes back."""
        await self._renew(name)
        self._come_alive(name)
        node = await self.client.get(NODES, name)
        now = now_rfc3339()
        conditions = [
            {**c, "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now,
             "lastTransitionTime": now} if c["type"] == "Ready" else c
            for c in node["status"].get("conditions") or []]
        await self.client.patch(NODES, name, {"status": {"conditions": conditions}},
                                patch_type="merge", subresource="status")

    def _come_alive(self, name: str) -> None:
        """Heartbeat `name` and run its pods, those bound to it already too: a pod bound
        while the node was registering (or silent) sent its only event then."""
        self.alive.add(name)
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") == name:
                self._pod_seen(pod)

    async def _renew(self, name: str) -> None:
        lease: Object = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": NODE_LEASES},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                          "renewTime": micro_time()}}
        try:
            current = await self.client.get(LEASES, name, NODE_LEASES)
        except NotFound:
            await self.client.create(LEASES, lease, NODE_LEASES)
            return
        current["spec"]["renewTime"] = lease["spec"]["renewTime"]
        await self.client.update(LEASES, current)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_interval)
            for name in list(self.alive):
                with contextlib.suppress(ClientError):
                    await self._renew(name)

    def _pod_seen(self, pod: Object) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not self.run_pods or node not in self.alive:
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._spawn(self._finish_deletion(pod))
        elif (pod.get("status") or {}).get("phase") != "Running":
            self._spawn(self._mark_running(pod))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mark_running(self, pod: Object) -> None:
        now = now_rfc3339()
        conditions = [{"type": t, "status": "True", "lastTransitionTime": now}
                      for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        status = {"phase": "Running", "conditions": conditions, "startTime": now,
                  "hostIP": "10.0.0.1", "podIP": "10.244.0.1",
                  "containerStatuses": [
                      {"name": c["name"], "ready": True, "restartCount": 0, "started": True,
                       "image": c.get("image", ""), "imageID": "", "containerID": "hollow://x",
                       "state": {"running": {"startedAt": now}}}
                      for c in pod["spec"].get("containers", [])]}
        meta = pod["metadata"]
        with contextlib.suppress(ClientError):
            await self.client.patch(PODS, meta["name"], {"status": status}, meta["namespace"],
                                    patch_type="merge", subresource="status")

    async def _finish_deletion(self, pod: Object) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(ClientError):
            await self.client.delete(PODS, meta["name"], meta["namespace"],
                                     grace_period_seconds=0)

    async def run(self) -> None:
        """Forever: heartbeats and the pod runner."""
        try:
            await asyncio.gather(self._heartbeat(), self.pods.run())
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cleanup(self) -> None:
        """Delete the nodes and leases this owner made."""
        for name in self.names:
            for resource, ns in ((NODES, None), (LEASES, NODE_LEASES)):
                with contextlib.suppress(ClientError):
                    await self.client.delete(resource, name, ns)
