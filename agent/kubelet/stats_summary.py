"""GET /stats/summary: the kubelet's Summary API (stats/v1alpha1) from files.

The node part comes from psutil (CPU times, memory, the root filesystem, this network
namespace's interfaces: in the lab, the node's own), each running pod from its
containers' cgroups (cgroups.py), its network from /proc/<sandbox pid>/net/dev.
usageNanoCores is the rate since the previous summary, as the kubelet's cadvisor keeps
it: absent on the first sample of a container. Field names and nesting are the
kubelet's (k8s.io/kubelet/pkg/apis/stats/v1alpha1), so its consumers read it unchanged;
resource_metrics.py renders /metrics/resource from the same summary, as the kubelet's
collector does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import psutil

from agent.kubelet import labels as L
from agent.kubelet.cgroups import CgroupReader, Usage, network_counters
from agent.kubelet.labels import Observed
from minikube_py.api import meta
from minikube_py.api.types import Object

Containers = Callable[[], Awaitable[list[Observed]]]


def rfc3339(seconds: float, precise: bool = False) -> str:
    """metav1.Time's format (whole seconds); `precise` keeps microseconds, which the
    /metrics/resource timestamps (milliseconds) need for rates over a 15 s scrape."""
    when = datetime.fromtimestamp(seconds, UTC)
    return meta.micro_time(when) if precise else meta.format_time(when)


def cpu_stats(stamp: str, used_ns: int, rate: int | None) -> Object:
    stats: Object = {"time": stamp, "usageCoreNanoSeconds": used_ns}
    if rate is not None:
        stats["usageNanoCores"] = rate
    return stats


def memory_stats(stamp: str, usage: Usage) -> Object:
    return {"time": stamp, "usageBytes": usage.memory_usage,
            "workingSetBytes": usage.working_set, "rssBytes": usage.rss,
            "pageFaults": usage.page_faults, "majorPageFaults": usage.major_page_faults}


def network_stats(stamp: str, counters: Mapping[str, tuple[int, ...]]) -> Object | None:
    """The kubelet's NetworkStats: the first interface (eth0 when present) inline, all
    in `interfaces`."""
    if not counters:
        return None
    interfaces = [{"name": name, "rxBytes": rx, "rxErrors": rx_err, "txBytes": tx,
                   "txErrors": tx_err}
                  for name, (rx, rx_err, tx, tx_err) in sorted(counters.items())]
    default = next((i for i in interfaces if i["name"] == "eth0"), interfaces[0])
    return {"time": stamp, **default, "interfaces": interfaces}


class SummaryProvider:
    """Builds the Summary; remembers each container's last CPU sample for the rate."""

    def __init__(self, node: str, reader: CgroupReader, containers: Containers, *,
                 fs_path: str = "/", clock: Callable[[], float] = time.time) -> None:
        self.node, self.reader, self.containers = node, reader, containers
        self.fs_path, self.clock = fs_path, clock
        self._last_cpu: dict[str, tuple[float, int]] = {}

    def _rate(self, key: str, now: float, used_ns: int) -> int | None:
        previous = self._last_cpu.get(key)
        self._last_cpu[key] = (now, used_ns)
        if previous is None or now <= previous[0] or used_ns < previous[1]:
            return None
        return int((used_ns - previous[1]) / (now - previous[0]))

    async def summary(self, *, precise: bool = False) -> Object:
        """The Summary; `precise` times keep microseconds (for /metrics/resource)."""
        running = [o for o in await self.containers() if o.running]
        return await asyncio.to_thread(self._collect, running, precise)

    def _collect(self, running: list[Observed], precise: bool) -> Object:
        now = self.clock()
        stamp = rfc3339(now, precise)
        pods: dict[str, list[Observed]] = {}
        for obs in running:
            pods.setdefault(obs.pod_uid, []).append(obs)
        self.reader.forget_except({o.id for o in running})
        seen = {"node"} | {o.id for o in running} | {f"pod:{uid}" for uid in pods}
        self._last_cpu = {k: v for k, v in self._last_cpu.items() if k in seen}
        return {"node": self._node(now, stamp),
                "pods": [p for p in (self._pod(now, stamp, uid, group)
                                     for uid, group in sorted(pods.items())) if p]}

    def _node(self, now: float, stamp: str) -> Object:
        times = psutil.cpu_times()
        busy = sum(getattr(times, f, 0.0) for f in ("user", "nice", "system", "irq",
                                                      "softirq", "steal"))
        used_ns = int(busy * 1e9)
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(self.fs_path)
        node: Object = {
            "nodeName": self.node, "startTime": rfc3339(psutil.boot_time()),
            "cpu": cpu_stats(stamp, used_ns, self._rate("node", now, used_ns)),
            "memory": {"time": stamp, "availableBytes": memory.available,
                       "usageBytes": memory.total - memory.free,
                       "workingSetBytes": memory.total - memory.available,
                       "rssBytes": memory.used, "pageFaults": 0, "majorPageFaults": 0},
            "fs": {"time": stamp, "availableBytes": disk.free,
                   "capacityBytes": disk.total, "usedBytes": disk.used},
            "rlimit": {"time": stamp, "curproc": len(psutil.pids())}}
        counters = {name: (c.bytes_recv, c.errin, c.bytes_sent, c.errout)
                    for name, c in psutil.net_io_counters(pernic=True).items() if name != "lo"}
        network = network_stats(stamp, counters)
        if network is not None:
            node["network"] = network
        return node

    def _pod(self, now: float, stamp: str, uid: str, group: list[Observed]) -> Object | None:
        sandbox = next((o for o in group if o.kind == L.SANDBOX), None)
        apps = [o for o in group if o.kind != L.SANDBOX]
        if not apps:
            return None
        first = apps[0]
        containers, cpu_total, processes = [], 0, 0
        memory_total = Usage(0, 0, 0, 0, 0, 0)
        for obs in sorted(apps, key=lambda o: o.name):
            usage = self.reader.usage(obs.id)
            entry: Object = {"name": obs.name, "startTime": rfc3339(obs.created)}
            if usage is not None:
                entry["cpu"] = cpu_stats(stamp, usage.cpu_ns,
                                         self._rate(obs.id, now, usage.cpu_ns))
                entry["memory"] = memory_stats(stamp, usage)
                cpu_total += usage.cpu_ns
                memory_total = _add(memory_total, usage)
                processes += len(self.reader.pids(obs.id))
            containers.append(entry)
        pod: Object = {
            "podRef": {"name": first.pod_name, "namespace": first.namespace, "uid": uid},
            "startTime": rfc3339((sandbox or first).created), "containers": containers,
            "cpu": cpu_stats(stamp, cpu_total, self._rate(f"pod:{uid}", now, cpu_total)),
            "memory": memory_stats(stamp, memory_total),
            "process_stats": {"process_count": processes}}
        pids = self.reader.pids(sandbox.id) if sandbox else []
        network = network_stats(stamp, network_counters(pids[0])) if pids else None
        if network is not None:
            pod["network"] = network
        return pod


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(*(x + y for x, y in zip(_fields(a), _fields(b), strict=True)))


def _fields(u: Usage) -> tuple[int, ...]:
    return (u.cpu_ns, u.memory_usage, u.working_set, u.rss, u.page_faults,
            u.major_page_faults)
