"""Scheduler benchmark: hollow nodes, pending pods, pods bound per second.

In one run, against a private api-server (embedded etcd):
1. baseline: the api-server's raw binding throughput: --raw pending pods
   bound by POSTing pods/binding directly (no scheduling), 64 in flight,
   measured like the scheduler: bindings seen by a watch, first to last;
2. throughput: --pods pending pods created first, then `minikube-py scheduler`
   (a separate process, as in a cluster) started; pods bound per second from
   its first binding to its last (scheduler_perf's measure);
3. latency: with the scheduler running, --latency-pods pods created at
   --rate per second; p50/p99 time from the create call returning to the
   binding showing up in a watch;
4. the baseline again (the shared machine's load drifts): the ratio is taken
   against the mean of both baselines.

Run: .venv/bin/python bench/scheduler.py [--nodes 1000] [--pods 10000]
Goal: >= 300 pods/s at 1,000 nodes and >= 50% of the raw binding throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

from support import bounded, scratch_apiserver, stop

from agent.hollow import node_object, register_node
from minikube_py.api.resources import NAMESPACES, PODS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient


def start_scheduler(data: Path) -> subprocess.Popen[bytes]:
    with open(data / "scheduler.log", "wb") as log:  # the child keeps its own copy
        return subprocess.Popen([sys.executable, "-m", "minikube_py.cli.main", "scheduler",
                                 "--kubeconfig", str(data / "admin.conf")],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def pod(name: str, scheduler: str = "default-scheduler") -> Object:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulerName": scheduler, "containers": [{
                "name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


class BindWatch:
    """Records when each pod of a namespace is first seen bound."""

    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.bound: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self, resource_version: str) -> None:
        async for _, obj in self.client.watch(PODS, self.namespace,
                                              resource_version=resource_version):
            name = obj["metadata"]["name"]
            if obj["spec"].get("nodeName") and name not in self.bound:
                self.bound[name] = time.monotonic()
                self.changed.set()

    async def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.bound) < count:
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"only {len(self.bound)}/{count} pods bound")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


async def pending_pods(client: ApiClient, ns: str, prefix: str, count: int,
                       scheduler: str = "default-scheduler") -> str:
    """`count` pending pods in a new namespace, and the resourceVersion after them: a watch
    from there sees their bindings only. (One from before would replay the creates while
    the bench posts, fall more than the api-server's bound of 1,000 changes behind and be
    closed as a slow watcher.)"""
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": ns}})
    await bounded(count, lambda i: client.create(PODS, pod(f"{prefix}-{i}", scheduler), ns))
    return str((await client.list(PODS, ns, limit=1))["metadata"]["resourceVersion"])


def rate(watch: BindWatch) -> float:
    """Bindings per second from the first seen to the last seen."""
    times = sorted(watch.bound.values())
    return (len(times) - 1) / (times[-1] - times[0])


async def raw_binding(client: ApiClient, count: int, nodes: list[str], ns: str) -> float:
    """Bindings posted directly, measured by a watch exactly as the scheduler is: from the
    first binding it sees (posted alone, so the watch is live before the others start,
    as it is long before the scheduler's first) to the last."""
    rv = await pending_pods(client, ns, "raw", count, "nobody")
    watch = BindWatch(client, ns)
    task = asyncio.create_task(watch.run(rv))

    async def bind(i: int) -> None:
        await client.create(PODS, {"apiVersion": "v1", "kind": "Binding",
                                   "metadata": {"name": f"raw-{i}"},
                                   "target": {"kind": "Node", "name": nodes[i % len(nodes)]}},
                            ns, subresource="binding", name=f"raw-{i}")
    await bind(0)
    await watch.wait_for(1, timeout=60)
    await bounded(count - 1, lambda i: bind(i + 1))
    await watch.wait_for(count, timeout=120)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return rate(watch)


async def main(args: argparse.Namespace) -> None:
    with scratch_apiserver("bench-scheduler-") as api:
        scheduler: subprocess.Popen[bytes] | None = None
        try:
            async with ApiClient.from_kubeconfig(api.data / "admin.conf",
                                                 pool_size=128) as client:
                t = time.perf_counter()
                nodes = [f"hollow-{i:04}" for i in range(args.nodes)]
                await bounded(args.nodes, lambda i: register_node(
                    client, node_object(nodes[i], cpu="32", memory="64Gi")))
                print(f"{args.nodes} hollow nodes in {time.perf_counter() - t:.1f}s")

                raw_before = await raw_binding(client, args.raw, nodes, "raw-before")
                print(f"baseline: raw bindings {raw_before:.0f}/s ({args.raw} pods)")

                t = time.perf_counter()
                rv = await pending_pods(client, "bench", "p", args.pods)
                print(f"{args.pods} pending pods created in {time.perf_counter() - t:.1f}s")
                watch = BindWatch(client, "bench")
                watch_task = asyncio.create_task(watch.run(rv))
                scheduler = start_scheduler(api.data)
                await watch.wait_for(args.pods, timeout=600)
                throughput = rate(watch)
                print(f"scheduler: {throughput:.0f} pods/s bound "
                      f"({args.pods} pods, {args.nodes} nodes)")

                created: dict[str, float] = {}
                names = [f"lat-{i}" for i in range(args.latency_pods)]
                t0 = time.monotonic()
                for i, name in enumerate(names):
                    await asyncio.sleep(max(t0 + i / args.rate - time.monotonic(), 0))
                    await client.create(PODS, pod(name), "bench")
                    created[name] = time.monotonic()
                await watch.wait_for(args.pods + args.latency_pods, timeout=120)
                latencies = sorted(watch.bound[n] - created[n] for n in names)
                p50 = statistics.median(latencies)
                p99 = latencies[int(len(latencies) * 0.99) - 1]
                print(f"latency at {args.rate}/s: p50 {p50 * 1000:.0f} ms, "
                      f"p99 {p99 * 1000:.0f} ms (creation -> binding)")
                watch_task.cancel()
                await asyncio.gather(watch_task, return_exceptions=True)
                stop(scheduler)  # so the second baseline runs alone
                raw_after = await raw_binding(client, args.raw, nodes, "raw-after")
                raw = (raw_before + raw_after) / 2  # the machine's load drifts
                print(f"baseline again: raw bindings {raw_after:.0f}/s; mean {raw:.0f}/s")
                print(f"ratio scheduler / raw binding: {throughput / raw:.2f} (goal >= 0.50); "
                      f"{throughput:.0f} pods/s (goal >= 300)")
        finally:
            if scheduler is not None:
                stop(scheduler)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--raw", type=int, default=2000, help="pods bound directly (baseline)")
    parser.add_argument("--latency-pods", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=300.0, help="pods/s in the latency phase")
    asyncio.run(main(parser.parse_args()))
