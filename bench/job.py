"""Job throughput: a Job of N completions at parallelism P against the same N pods
created straight through the API in waves of P (issue #16: <= 1.15x).

    .venv/bin/python bench/job.py [--completions 300] [--parallelism 20] [--rounds 1]

Starts a private api-server, scheduler, controller-manager (job controller only)
and a `minikube-py agent` on the reference bridge CNI plugins (pod_startup's Env),
then alternates, per round:
  waves  P pods (`true`, restartPolicy Never) created at once, the next P once all
         of them Succeeded, until N: the wall time,
  job    one Job with completions N, parallelism P: wall time from create to its
         Complete condition.
Pods of each run are deleted before the next. Prints both walls and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pod_startup import Env, wait_node_ready

from agent.kubelet.images import BUSYBOX_IMAGE, ensure_local_images
from agent.kubelet.runtime import DockerRuntime
from minikube_py.api.resources import JOBS, PODS
from minikube_py.client import ApiClient

NAMESPACE = "default"


def pod_spec() -> dict[str, Any]:
    return {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": BUSYBOX_IMAGE, "command": ["true"]}]}


async def succeeded(api: ApiClient, label: str) -> int:
    pods = (await api.list(PODS, NAMESPACE, label_selector=label))["items"]
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")


async def until(check: Any, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark run did not finish")
        await asyncio.sleep(0.05)


async def waves(api: ApiClient, total: int, size: int) -> float:
    run = f"waves-{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    for start in range(0, total, size):
        count = min(size, total - start)
        await asyncio.gather(*(api.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{run}-{start + i}", "labels": {"run": run}},
            "spec": pod_spec()}, NAMESPACE) for i in range(count)))

        async def wave_done(goal: int = start + count) -> bool:
            return await succeeded(api, f"run={run}") >= goal

        await until(wave_done)
    wall = time.perf_counter() - t0
    await cleanup(api, f"run={run}")
    return wall


async def job(api: ApiClient, total: int, size: int) -> float:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    await api.create(JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                            "metadata": {"name": name},
                            "spec": {"completions": total, "parallelism": size,
                                     "backoffLimit": total,
                                     "template": {"spec": pod_spec()}}}, NAMESPACE)

    async def complete() -> bool:
        status = (await api.get(JOBS, name, NAMESPACE)).get("status") or {}
        return any(c.get("type") == "Complete" and c.get("status") == "True"
                   for c in status.get("conditions") or [])

    await until(complete)
    wall = time.perf_counter() - t0
    status = (await api.get(JOBS, name, NAMESPACE))["status"]
    assert status["succeeded"] == total, status
    await api.delete(JOBS, name, NAMESPACE, propagation_policy="Background")
    await cleanup(api, f"batch.kubernetes.io/job-name={name}")
    return wall


async def cleanup(api: ApiClient, label: str) -> None:
    pods = (await api.list(PODS, NAMESPACE, label_selector=label))["items"]
    for pod in pods:
        if pod["metadata"].get("finalizers"):
            await api.patch(PODS, pod["metadata"]["name"], {"metadata": {"finalizers": None}},
                            NAMESPACE)
    await asyncio.gather(*(api.delete(PODS, p["metadata"]["name"], NAMESPACE,
                                      grace_period_seconds=0) for p in pods),
                         return_exceptions=True)

    async def gone() -> bool:
        return not (await api.list(PODS, NAMESPACE, label_selector=label))["items"]

    await until(gone, 300)


async def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--completions", type=int, default=300)
    ap.add_argument("--parallelism", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    runtime = DockerRuntime(workers=2)
    await ensure_local_images(runtime)
    await runtime.close()
    root = Path(tempfile.mkdtemp(prefix="bench-job-"))
    env = Env(root)
    try:
        env.start()
        await wait_node_ready(env)
        kubeconfig = str(env.kubeconfig)
        env._spawn("scheduler", "--kubeconfig", kubeconfig)
        env._spawn("controller-manager", "--kubeconfig", kubeconfig, "--controllers", "job")
        async with ApiClient.from_kubeconfig(env.kubeconfig) as api:
            await waves(api, args.parallelism, args.parallelism)  # warm the image and paths
            for i in range(args.rounds):
                direct = await waves(api, args.completions, args.parallelism)
                through_job = await job(api, args.completions, args.parallelism)
                print(f"round {i + 1}: {args.completions} pods in waves of {args.parallelism}: "
                      f"{direct:.1f}s; Job completions={args.completions} "
                      f"parallelism={args.parallelism}: {through_job:.1f}s; "
                      f"ratio {through_job / direct:.2f}x (goal <= 1.15x)", flush=True)
    finally:
        env.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
