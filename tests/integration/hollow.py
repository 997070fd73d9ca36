"""Hollow nodes: Nodes and Leases written by a test agent that "runs" the pods
bound to them (marks them Running and Ready) without Docker.

What the control plane sees is exactly what real agents write, so the
scheduler and controllers are tested end to end against a real api-server;
only the containers are missing. `stop(name)` silences a node's heartbeat,
which is how a test makes a node fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from minikube_py.api.resources import LEASES, NODES, PODS
from minikube_py.client import ApiClient, Informer
from minikube_py.client.errors import ClientError, NotFound

log = logging.getLogger(__name__)


def _now(micro: bool = False) -> str:
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.now(UTC).strftime(fmt)


def node_object(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
                labels: dict | None = None, taints: list | None = None) -> dict:
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    now = _now()
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


async def register_node(client: ApiClient, body: dict) -> None:
    """Create the Node, then write its status (create may drop status, as for pods)."""
    created = await client.create(NODES, body)
    if created.get("status", {}).get("conditions") != body["status"]["conditions"]:
        await client.patch(NODES, body["metadata"]["name"], {"status": body["status"]},
                           patch_type="merge", subresource="status")


class HollowNodes:
    """Nodes this test owns; `run()` heartbeats them and runs their pods."""

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
        self._tasks: set[asyncio.Task] = set()

    async def add(self, suffix: str, **kwargs) -> str:
        name = f"{self.prefix}-{suffix}"
        await register_node(self.client, node_object(name, **kwargs))
        self.names.append(name)
        self.alive.add(name)
        await self._renew(name)
        return name

    def stop(self, name: str) -> None:
        """The node goes silent: no Lease renewals, no pod updates."""
        self.alive.discard(name)

    async def resume(self, name: str) -> None:
        """Heartbeats again and reports Ready, as an agent does when it comes back."""
        self.alive.add(name)
        await self._renew(name)
        node = await self.client.get(NODES, name)
        now = _now()
        conditions = [
            {**c, "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now,
             "lastTransitionTime": now} if c["type"] == "Ready" else c
            for c in node["status"].get("conditions") or []]
        await self.client.patch(NODES, name, {"status": {"conditions": conditions}},
                                patch_type="merge", subresource="status")

    async def _renew(self, name: str) -> None:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": "kube-node-lease"},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                          "renewTime": _now(micro=True)}}
        try:
            current = await self.client.get(LEASES, name, "kube-node-lease")
        except NotFound:
            await self.client.create(LEASES, lease, "kube-node-lease")
            return
        current["spec"]["renewTime"] = lease["spec"]["renewTime"]
        await self.client.update(LEASES, current)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_interval)
            for name in list(self.alive):
                with contextlib.suppress(ClientError):
                    await self._renew(name)

    def _pod_seen(self, pod: dict) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not self.run_pods or node not in self.alive:
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._spawn(self._finish_deletion(pod))
        elif (pod.get("status") or {}).get("phase") != "Running":
            self._spawn(self._mark_running(pod))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mark_running(self, pod: dict) -> None:
        now = _now()
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

    async def _finish_deletion(self, pod: dict) -> None:
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
        """Delete the nodes and leases this helper made."""
        for name in self.names:
            for resource, ns in ((NODES, None), (LEASES, "kube-node-lease")):
                with contextlib.suppress(ClientError):
                    await self.client.delete(resource, name, ns)


class ControlPlane:
    """Scheduler + controllers + hollow nodes, in this process, against one
    api-server: `async with ControlPlane(client, settings) as cp: ...`."""

    def __init__(self, client: ApiClient, settings=None, *, scheduler: bool = True,
                 lease_interval: float = 1.0) -> None:
        from minikube_py.controllers.settings import ControllerManagerSettings

        self.client = client
        self.settings = settings or ControllerManagerSettings(leader_election=None)
        self.nodes = HollowNodes(client, lease_interval=lease_interval)
        self.with_scheduler = scheduler
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Self:
        from minikube_py.controllers.manager import run_controllers
        from minikube_py.scheduler.scheduler import Scheduler
        from minikube_py.scheduler.settings import SchedulerSettings

        coros = [self.nodes.run(), run_controllers(self.client, self.settings)]
        if self.with_scheduler:
            coros.append(Scheduler(self.client, SchedulerSettings(leader_election=None)).run())
        self._tasks = [asyncio.create_task(c) for c in coros]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.nodes.cleanup()
        for result in results:
            if isinstance(result, Exception):
                raise result


@contextlib.contextmanager
def components(kubeconfig: Path, log_dir: Path, **commands: list[str]) -> Iterator[dict]:
    """`minikube-py <args>` processes by name (e.g. two schedulers), each with
    a unique --identity and short leader-election timings; SIGTERM at the end,
    SIGKILL if one does not stop."""
    procs: dict[str, subprocess.Popen] = {}
    try:
        for name, args in commands.items():
            with open(log_dir / f"{name}.log", "wb") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "minikube_py.cli.main", *args,
                     "--kubeconfig", str(kubeconfig),
                     "--identity", f"{name}-{uuid.uuid4().hex[:6]}",
                     "--leader-elect-lease-duration", "4s",
                     "--leader-elect-renew-deadline", "3s",
                     "--leader-elect-retry-period", "0.5s"],
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        yield procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def lease_holder(client: ApiClient, name: str) -> str | None:
    try:
        lease = await client.get(LEASES, name, "kube-system")
    except ClientError:
        return None
    return lease["spec"].get("holderIdentity")
