"""The Node object and its heartbeat.

Registration creates the Node or takes it over after a restart (labels, taints and
status refreshed, spec.podCIDR left to the node-ipam controller). The Lease in
kube-node-lease is renewed every 10 s (the cheap heartbeat the node-lifecycle
controller watches); conditions are recomputed each round but written only when they
change or a minute has passed, like kubelet's nodeStatusReportFrequency.
Events about the node ("Starting", "NodeReady"/"NodeNotReady") name it with
uid = node name, as kubelet's do: that is what `kubectl describe node` looks for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import psutil

from agent.kubelet.runtime import DockerRuntime
from agent.settings import AgentSettings
from minikube_py.api.backoff import Backoff
from minikube_py.api.meta import micro_time, now_rfc3339
from minikube_py.api.resources import LEASES, NODES
from minikube_py.client import ApiClient, EventRecorder
from minikube_py.client.errors import AlreadyExists, NotFound

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.0"
LEASE_NAMESPACE = "kube-node-lease"
MEMORY_PRESSURE_BYTES = 100 * 2**20
DISK_PRESSURE_FRACTION = 0.10
PID_PRESSURE_FRACTION = 0.90
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def capacity(settings: AgentSettings, state_dir: str) -> dict[str, str]:
    """cpu cores, memory in Ki, pods, ephemeral storage of the filesystem holding state."""
    os.makedirs(state_dir, exist_ok=True)
    disk = psutil.disk_usage(state_dir)
    return {"cpu": str(psutil.cpu_count() or 1),
            "memory": f"{psutil.virtual_memory().total // 1024}Ki",
            "pods": str(settings.max_pods),
            "ephemeral-storage": f"{disk.total // 1024}Ki"}


def pressure(state_dir: str) -> dict[str, bool]:
    """psutil thresholds (kubelet's default hard eviction signals, simplified)."""
    disk = psutil.disk_usage(state_dir)
    pid_max = int(_read("/proc/sys/kernel/pid_max", "32768") or 32768)
    return {"MemoryPressure": psutil.virtual_memory().available < MEMORY_PRESSURE_BYTES,
            "DiskPressure": disk.free < disk.total * DISK_PRESSURE_FRACTION,
            "PIDPressure": len(psutil.pids()) > pid_max * PID_PRESSURE_FRACTION}


class NodeAgent:
    """Registers the Node, renews its Lease, reports its conditions."""

    def __init__(self, client: ApiClient, settings: AgentSettings, runtime: DockerRuntime,
                 host_ip: str) -> None:
        self.client, self.settings, self.runtime, self.host_ip = client, settings, runtime, host_ip
        self.name = settings.node_name
        self._reported_at = 0.0
        self.recorder = EventRecorder(client, component="kubelet", host=self.name)

    async def event(self, reason: str, message: str) -> None:
        ref = {"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": self.name, "uid": self.name}}
        await self.recorder.event(ref, "Normal", reason, message)

    def labels(self) -> dict[str, str]:
        return {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": _ARCH.get(platform.machine(), platform.machine()),
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": _ARCH.get(platform.machine(), platform.machine()),
                **self.settings.node_labels}

    async def node_info(self) -> dict[str, str]:
        try:
            docker_version = (await self.runtime.version()).get("Version", "unknown")
        except Exception:  # noqa: BLE001 - dockerd down: report it as unknown, keep going
            docker_version = "unknown"
        arch = _ARCH.get(platform.machine(), platform.machine())
        return {"machineID": _read("/etc/machine-id"), "systemUUID": _read(
                    "/sys/class/dmi/id/product_uuid"),
                "bootID": _read("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": platform.release(), "osImage": _os_image(),
                "containerRuntimeVersion": f"docker://{docker_version}",
                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux", "architecture": arch}

    async def status(self, conditions: list[dict[str, Any]]) -> dict[str, Any]:
        cap = capacity(self.settings, self.settings.state_dir)
        return {"capacity": cap, "allocatable": dict(cap), "conditions": conditions,
                "addresses": [{"type": "InternalIP", "address": self.host_ip},
                              {"type": "Hostname", "address": self.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.settings.kubelet_port}},
                "nodeInfo": await self.node_info()}

    async def register(self) -> None:
        """Create the Node, or take over the existing one (our labels/taints win)."""
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": self.labels()},
                "spec": {"taints": self.settings.register_with_taints}
                if self.settings.register_with_taints else {}}
        try:
            await self.client.create(NODES, node)
            log.info("node registered node=%s", self.name)
        except AlreadyExists:
            patch: dict[str, Any] = {"metadata": {"labels": self.labels()}}
            if self.settings.register_with_taints:
                patch["spec"] = {"taints": self.settings.register_with_taints}
            await self.client.patch(NODES, self.name, patch)
            log.info("node taken over node=%s", self.name)
        await self.report(force=True)

    async def conditions(self) -> list[dict[str, Any]]:
        """Ready needs dockerd and a CNI configuration; pressure from psutil."""
        docker_ok = await self.runtime.ping()
        conf_dir = Path(self.settings.cni_conf_dir)
        cni_ok = conf_dir.is_dir() and any(
            p.suffix in (".conflist", ".conf", ".json") for p in conf_dir.iterdir())
        flags = await asyncio.to_thread(pressure, self.settings.state_dir)
        out = []
        reasons = {"MemoryPressure": ("KubeletHasInsufficientMemory", "KubeletHasSufficientMemory"),
                   "DiskPressure": ("KubeletHasDiskPressure", "KubeletHasNoDiskPressure"),
                   "PIDPressure": ("KubeletHasInsufficientPID", "KubeletHasSufficientPID")}
        for ctype, bad in flags.items():
            out.append((ctype, bad, reasons[ctype][0 if bad else 1]))
        out.append(("NetworkUnavailable", not cni_ok,
                    "NoCNIConfig" if not cni_ok else "CNIConfigured"))
        if docker_ok and cni_ok:
            out.append(("Ready", True, "KubeletReady"))
        else:
            out.append(("Ready", False, "KubeletNotReady"))
        messages = {"KubeletReady": "kubelet is posting ready status",
                    "KubeletNotReady": ("container runtime is down" if not docker_ok else
                                        "container runtime network not ready: cni config "
                                        "uninitialized"),
                    "NoCNIConfig": f"no CNI configuration in {conf_dir}"}
        return [{"type": t, "status": "True" if v else "False", "reason": r,
                 "message": messages.get(r, r)} for t, v, r in out]

    async def report(self, force: bool = False) -> None:
        """Write node status if a condition changed or the report interval passed."""
        conds = await self.conditions()
        summary = {c["type"]: c["status"] for c in conds}
        try:
            old = await self.client.get(NODES, self.name)
        except NotFound:
            await self.register()
            return
        # Compare with what the API holds, not with what we last wrote: the node
        # lifecycle controller may have set Ready=Unknown while we were away.
        old_conds = {c["type"]: c for c in (old.get("status") or {}).get("conditions") or []}
        stored = {t: c.get("status") for t, c in old_conds.items()}
        due = time.monotonic() - self._reported_at >= self.settings.status_report_interval
        if not (force or due or summary != stored):
            return
        now = now_rfc3339()
        for c in conds:
            prev = old_conds.get(c["type"])
            c["lastHeartbeatTime"] = now
            c["lastTransitionTime"] = (prev["lastTransitionTime"] if prev and
                                       prev.get("status") == c["status"] else now)
        await self.client.patch(NODES, self.name, {"status": await self.status(conds)},
                                subresource="status")
        if summary.get("Ready") != stored.get("Ready"):
            ready = "NodeReady" if summary.get("Ready") == "True" else "NodeNotReady"
            await self.event(ready, f"Node {self.name} status is now: {ready}")
        if summary != stored:
            log.info("node conditions node=%s %s", self.name,
                     " ".join(f"{k}={v}" for k, v in summary.items()))
        self._reported_at = time.monotonic()

    async def renew_lease(self) -> None:
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": self.settings.lease_duration,
                "renewTime": micro_time()}
        try:
            await self.client.patch(LEASES, self.name, {"spec": spec}, LEASE_NAMESPACE)
        except NotFound:
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE},
                     "spec": spec}
            try:
                await self.client.create(LEASES, lease, LEASE_NAMESPACE)
            except AlreadyExists:
                pass

    async def run(self) -> None:
        backoff = Backoff(1.0, 10.0)
        while True:  # the api-server may not be up yet: the agent waits rather than exits
            try:
                await self.register()
                break
            except Exception as e:  # noqa: BLE001 - any API failure: try again
                log.warning("node registration failed node=%s err=%r", self.name, e)
                await backoff.sleep()
        # Once the api-server has answered: sent before, an agent that came up first lost it
        # (events are best effort), and `kubectl describe node` showed no Starting.
        await self.event("Starting", "Starting kubelet.")
        while True:
            try:
                # Bounded as kubelet's heartbeat client (timeout = the update period): a
                # request hanging on a dead api-server must not outlive the grace period.
                async with asyncio.timeout(self.settings.lease_renew_interval):
                    await self.renew_lease()
                    await self.report()
            except Exception as e:  # noqa: BLE001 - a heartbeat must outlive API hiccups
                log.warning("node heartbeat failed node=%s err=%r", self.name, e)
            await asyncio.sleep(self.settings.lease_renew_interval)
