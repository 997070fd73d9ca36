"""DaemonSet rollout against a Deployment rollout of the same pods, and CronJob start
latency (issue #16: DaemonSet <= 1.2x the Deployment; CronJob start p99 < 2 s).

    .venv/bin/python bench/workloads.py [--nodes 10] [--rounds 3] [--cronjobs 40] [--minutes 2]

A private api-server (embedded etcd), `minikube-py scheduler` and `minikube-py
controller-manager` (daemonset, deployment, replicaset, cronjob, job) as separate
processes, and --nodes hollow nodes (agent/hollow.py) in this process that heartbeat and
mark their pods Running and Ready. Alternated per round:
  daemonset   one pod per node; the template changed; wall time until every node runs
              the new revision and all are available (default RollingUpdate,
              maxUnavailable 1, maxSurge 0);
  deployment  the same number of replicas with the same strategy (maxUnavailable 1,
              maxSurge 0), the same template change, until every replica is updated and
              available: the same number of pod replacements, one at a time.
Then --cronjobs CronJobs scheduled every minute for --minutes minutes: for each Job, the
time from its scheduled second (the cronjob-scheduled-timestamp annotation) to the Job
showing up in a watch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler import start_scheduler
from support import scratch_apiserver, stop

from agent.hollow import HollowNodes
from minikube_py.api.resources import CRONJOBS, DAEMONSETS, DEPLOYMENTS, JOBS
from minikube_py.client import ApiClient

NAMESPACE = "default"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
CONTROLLERS = "daemonset,deployment,replicaset,cronjob,job"


def start_controller_manager(data: Path) -> subprocess.Popen[bytes]:
    with open(data / "controller-manager.log", "wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "minikube_py.cli.main", "controller-manager",
             "--kubeconfig", str(data / "admin.conf"), "--controllers", CONTROLLERS,
             "--leader-elect", "false"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def template(app: str, version: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "c", "image": "busybox", "env": [{"name": "V", "value": version}],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark run did not finish")
        await asyncio.sleep(0.05)


async def daemonset_done(api: ApiClient, name: str, nodes: int) -> bool:
    ds = await api.get(DAEMONSETS, name, NAMESPACE)
    status = ds.get("status") or {}
    return (status.get("observedGeneration") == ds["metadata"]["generation"]
            and status.get("updatedNumberScheduled") == nodes
            and status.get("numberAvailable") == nodes
            and status.get("currentNumberScheduled") == nodes)


async def deployment_done(api: ApiClient, name: str, replicas: int) -> bool:
    deploy = await api.get(DEPLOYMENTS, name, NAMESPACE)
    status = deploy.get("status") or {}
    return (status.get("observedGeneration") == deploy["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and status.get("replicas") == replicas)


async def rollout(api: ApiClient, resource: Any, spec: dict[str, Any],
                  done: Callable[[ApiClient, str, int], Awaitable[bool]], count: int) -> float:
    """Create the workload, wait for it, change its template; the rollout's wall time."""
    name = f"{resource.kind.lower()}-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "apps/v1", "kind": resource.kind, "metadata": {"name": name},
            "spec": {**spec, "selector": {"matchLabels": {"app": name}},
                     "template": template(name, "1")}}
    await api.create(resource, body, NAMESPACE)
    await until(lambda: done(api, name, count))
    t0 = time.perf_counter()
    await api.patch(resource, name, {"spec": {"template": template(name, "2")}}, NAMESPACE,
                    patch_type="merge")
    await until(lambda: done(api, name, count))
    wall = time.perf_counter() - t0
    await api.delete(resource, name, NAMESPACE, propagation_policy="Foreground")
    return wall


async def cronjob_latencies(api: ApiClient, count: int, minutes: int) -> list[float]:
    """Seconds from each Job's scheduled second to its appearance in a watch."""
    rv = (await api.list(JOBS, NAMESPACE))["metadata"]["resourceVersion"]
    run = uuid.uuid4().hex[:6]
    seen: list[float] = []

    async def watch() -> None:
        async for kind, job in api.watch(JOBS, NAMESPACE, resource_version=rv):
            stamp = (job["metadata"].get("annotations") or {}).get(SCHEDULED)
            if kind == "ADDED" and stamp and job["metadata"]["name"].startswith(f"cj-{run}"):
                scheduled = datetime.fromisoformat(stamp)
                seen.append(time.time() - scheduled.timestamp())

    task = asyncio.create_task(watch())
    names = [f"cj-{run}-{i}" for i in range(count)]
    for name in names:
        await api.create(CRONJOBS, {
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "* * * * *", "successfulJobsHistoryLimit": 1,
                     "jobTemplate": {"spec": {"template": {"spec": {
                         "restartPolicy": "Never",
                         "containers": [{"name": "c", "image": "busybox"}]}}}}}}, NAMESPACE)

    async def all_seen() -> bool:
        return len(seen) >= count * minutes

    await until(all_seen, 60 * minutes + 120)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for name in names:
        await api.delete(CRONJOBS, name, NAMESPACE, propagation_policy="Background")
    return seen


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def main(args: argparse.Namespace) -> None:
    with scratch_apiserver("bench-workloads-") as apiserver:
        data = apiserver.data
        procs = [start_scheduler(data), start_controller_manager(data)]
        try:
            async with ApiClient.from_kubeconfig(data / "admin.conf") as api:
                hollow = HollowNodes(api, lease_interval=5)
                for i in range(args.nodes):
                    await hollow.add(str(i))
                runner = asyncio.create_task(hollow.run())
                strategy = {"type": "RollingUpdate",
                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
                ratios = []
                for i in range(args.rounds):
                    ds = await rollout(api, DAEMONSETS, {"updateStrategy": strategy},
                                       daemonset_done, args.nodes)
                    deploy = await rollout(api, DEPLOYMENTS,
                                           {"replicas": args.nodes, "strategy": strategy},
                                           deployment_done, args.nodes)
                    ratios.append(ds / deploy)
                    print(f"round {i + 1}: DaemonSet rollout on {args.nodes} nodes {ds:.2f}s, "
                          f"Deployment of {args.nodes} replicas {deploy:.2f}s, "
                          f"ratio {ds / deploy:.2f}x", flush=True)
                print(f"median ratio {statistics.median(ratios):.2f}x (goal <= 1.2x)")
                if args.cronjobs:
                    late = await cronjob_latencies(api, args.cronjobs, args.minutes)
                    print(f"CronJob start, {len(late)} Jobs: p50 {statistics.median(late):.2f}s "
                          f"p99 {pct(late, 0.99):.2f}s max {max(late):.2f}s (goal p99 < 2 s)")
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
                await hollow.cleanup()
        finally:
            stop(*reversed(procs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cronjobs", type=int, default=40)
    parser.add_argument("--minutes", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
