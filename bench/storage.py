"""Storage: pod start with a new local-path claim vs. the same pod with an emptyDir, and
100 claims bound at once vs. 100 ConfigMaps created and read back.

    .venv/bin/python bench/storage.py [--rounds 10] [--claims 100]

A private api-server and `minikube-py agent` (bench/pod_startup.Env), with the PV binder
and the scheduler in this process. Alternating rounds: a pod with an emptyDir, then a
claim (WaitForFirstConsumer, provisioned on first consumer) and a pod using it; seconds
from the first create to Running. Then N pre-made volumes and N claims created at once
until all are Bound, against N ConfigMaps created and read back. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pod_startup import Env, wait_node_ready

from agent.kubelet.images import BUSYBOX_IMAGE, ensure_local_images
from agent.kubelet.runtime import DockerRuntime
from minikube_py.api.resources import (
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    STORAGECLASSES,
)
from minikube_py.client import ApiClient
from minikube_py.client.tasks import background
from minikube_py.controllers.manager import run_controllers
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.scheduler.scheduler import Scheduler
from minikube_py.scheduler.settings import SchedulerSettings


def pod(name: str, volume: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 0, "volumes": [{"name": "d", **volume}],
                     "containers": [{"name": "app", "image": BUSYBOX_IMAGE,
                                     "command": ["sleep", "3600"],
                                     "volumeMounts": [{"name": "d", "mountPath": "/d"}]}]}}


def claim(name: str, storage_class: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": "16Mi"}}}}


async def until(check: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.02)


async def start_pod(api: ApiClient, name: str, volume: dict[str, Any],
                    storage_class: str | None) -> float:
    t0 = time.perf_counter()
    if storage_class:
        await api.create(PERSISTENTVOLUMECLAIMS, claim(name, storage_class))
    await api.create(PODS, pod(name, volume))

    async def running() -> bool:
        st = (await api.get(PODS, name, "default")).get("status") or {}
        return st.get("phase") == "Running"
    await until(running)
    return time.perf_counter() - t0


async def bulk_claims(api: ApiClient, n: int) -> float:
    for i in range(n):
        await api.create(PERSISTENTVOLUMES, {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"bulk-{i}"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "", "hostPath": {"path": f"/tmp/bulk-{i}"}}})
    await asyncio.sleep(1)
    t0 = time.perf_counter()
    await asyncio.gather(*(api.create(PERSISTENTVOLUMECLAIMS, claim(f"bulk-{i}", ""))
                           for i in range(n)))

    async def all_bound() -> bool:
        items = (await api.list(PERSISTENTVOLUMECLAIMS, "default"))["items"]
        return sum(1 for c in items if c["metadata"]["name"].startswith("bulk-")
                   and c.get("status", {}).get("phase") == "Bound") == n
    await until(all_bound)
    return time.perf_counter() - t0


async def bulk_configmaps(api: ApiClient, n: int) -> float:
    t0 = time.perf_counter()
    await asyncio.gather(*(api.create(CONFIGMAPS, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"bulk-{i}"},
        "data": {"k": "v"}}, "default") for i in range(n)))
    await asyncio.gather(*(api.get(CONFIGMAPS, f"bulk-{i}", "default") for i in range(n)))
    return time.perf_counter() - t0


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--claims", type=int, default=100)
    args = ap.parse_args()
    runtime = DockerRuntime(workers=2)
    await ensure_local_images(runtime)
    await runtime.close()
    root = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    env = Env(root)
    try:
        env.start()
        await wait_node_ready(env)
        settings = ControllerManagerSettings(
            leader_election=None, controllers=("persistentvolume-binder", "pvc-protection"))
        async with ApiClient.from_kubeconfig(env.kubeconfig) as api, \
                background(run_controllers(api, settings), "controllers"), \
                background(Scheduler(api, SchedulerSettings(leader_election=None)).run(),
                           "scheduler"):
            await api.create(STORAGECLASSES, {
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "bench"}, "provisioner": "rancher.io/local-path",
                "volumeBindingMode": "WaitForFirstConsumer",
                "parameters": {"nodePath": str(root / "volumes")}})
            await start_pod(api, "warm", {"emptyDir": {}}, None)
            empty, claimed = [], []
            for i in range(args.rounds):
                empty.append(await start_pod(api, f"empty-{i}", {"emptyDir": {}}, None))
                claimed.append(await start_pod(
                    api, f"claim-{i}", {"persistentVolumeClaim": {"claimName": f"claim-{i}"}},
                    "bench"))
            claims_s = await bulk_claims(api, args.claims)
            maps_s = await bulk_configmaps(api, args.claims)
        e, c = statistics.median(empty), statistics.median(claimed)
        print(f"pod start, median of {args.rounds}: emptyDir {e:.3f}s  new claim {c:.3f}s  "
              f"overhead {c - e:+.3f}s (goal <= +0.3s)")
        print(f"{args.claims} claims bound {claims_s:.2f}s vs {args.claims} ConfigMaps created "
              f"and read {maps_s:.2f}s: {claims_s / maps_s:.2f}x (goal <= 1.5x)")
    finally:
        env.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
