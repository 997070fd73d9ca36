"""The service proxy: Services + Endpoints in, one iptables-restore per sync out.

Sync strategy (kube-proxy's, one step further): a full sync at start, every
`full_sync_period` and after any failure reads our chains and hooks back from
the kernel, rewrites every chain of ours, re-adds missing hooks and deletes the
stale chains it found. In between, a sync writes only the chains whose content
changed (the chains of changed service ports, and KUBE-SERVICES & co only when
a line in them changed) and deletes the chains that were ours last time and are
not now. With legacy iptables every restore copies the whole table, so at
10,000 services one change costs the same few hundred ms either way; what we
save is the text and parsing. Between changes nothing runs: the loop sleeps on
an event that the informer handlers set.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from agent.proxy import backend as backends
from agent.proxy import iptables
from agent.proxy.conntrack import Flush, flush
from agent.proxy.model import Endpoint, Obj, ServicePort, ready_endpoints, service_ports
from agent.proxy.settings import ProxySettings
from minikube_py.api.resources import ENDPOINTS, SERVICES
from minikube_py.client import Informer

log = logging.getLogger(__name__)

Inputs = tuple[ServicePort, tuple[Endpoint, ...]]
RETRY_MAX = 30.0


@dataclass(frozen=True)
class SyncStats:
    """What one sync did (logged, and read by tests and the benchmark)."""

    full: bool
    service_ports: int
    written: int
    deleted_chains: int
    lines: int
    seconds: float


_CHAIN = re.compile(r"^:(\S+)", re.MULTILINE)
_HOOK = re.compile(r"^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j (KUBE-\S+)",
                   re.MULTILINE)


@dataclass(frozen=True)
class KernelState:
    """What a full sync reads back first: our chains and which hooks are in place."""

    nat_chains: set[str]
    filter_chains: set[str]
    hooks: set[iptables.Hook]


def parse_save(save_text: str) -> KernelState:
    """Our view of iptables-save output of all tables (regexes: it is ~18 MB at 10k
    services): chain names per table and which of our hooks are in place."""
    tables: dict[str, str] = {}
    for section in save_text.split("\n*")[1:]:
        name, _, body = section.partition("\n")
        tables[name] = body
    hooks = set()
    for table in ("nat", "filter"):
        jumps = set(_HOOK.findall(tables.get(table, "")))
        hooks |= {h for h in iptables.HOOKS if h.table == table and (h.chain, h.target) in jumps}
    return KernelState(nat_chains=set(_CHAIN.findall(tables.get("nat", ""))),
                       filter_chains=set(_CHAIN.findall(tables.get("filter", ""))), hooks=hooks)


class Proxier:
    """Programs this node's iptables so every Service reaches its ready endpoints."""

    def __init__(self, client: Any, settings: ProxySettings | None = None) -> None:
        self._client = client
        self.settings = settings or ProxySettings()
        self.backend: backends.Backend | None = None
        self._ports: dict[str, list[ServicePort]] = {}                  # "ns/name" -> ports
        self._ready: dict[str, dict[str, tuple[Endpoint, ...]]] = {}    # "ns/name" -> by port
        self._rendered: dict[str, tuple[Inputs, iptables.ServiceRules]] = {}
        self._written: dict[str, Inputs] = {}  # port key -> inputs now in the kernel
        self._nat_chains: set[str] = set()     # per-service nat chains now in the kernel
        self._top_written: dict[iptables.TopKey, list[str]] = {}  # shared chains in the kernel
        self._full_needed = True
        self._kernel_known = False  # our bookkeeping matches the kernel (last restore worked)
        self._endpoints = 0  # ready endpoints over all services
        self._large = False  # many endpoints: per-endpoint rules without comments
        self._wake = asyncio.Event()
        self._syncing = asyncio.Lock()  # one restore at a time, whoever calls sync()
        self.last_sync: SyncStats | None = None

    # -- inputs: informer handlers (and tests) call these; they only record and wake ----------

    def set_service(self, service: Obj) -> None:
        self._ports[_key(service)] = service_ports(service)
        self._wake.set()

    def delete_service(self, service: Obj) -> None:
        self._ports.pop(_key(service), None)
        self._wake.set()

    def set_endpoints(self, endpoints: Obj) -> None:
        key, ready = _key(endpoints), ready_endpoints(endpoints)
        self._endpoints += _count(ready) - _count(self._ready.get(key, {}))
        self._ready[key] = ready
        self._wake.set()

    def delete_endpoints(self, endpoints: Obj) -> None:
        self._endpoints -= _count(self._ready.pop(_key(endpoints), {}))
        self._wake.set()

    # -- one sync ---------------------------------------------------------------------------

    def _desired(self, ports: list[tuple[str, list[ServicePort]]],
                 ready_by_service: dict[str, dict[str, tuple[Endpoint, ...]]],
                 ) -> dict[str, tuple[Inputs, iptables.ServiceRules]]:
        """Rules of every service port, re-rendered only where the inputs changed.

        Works on a snapshot so it can run in a thread while iptables-save runs.
        """
        cidr, large, rendered = self.settings.cluster_cidr, self._large, self._rendered
        desired: dict[str, tuple[Inputs, iptables.ServiceRules]] = {}
        for svc_key, service_ports_ in ports:
            ready = ready_by_service.get(svc_key, {})
            for sp in service_ports_:
                inputs = (sp, ready.get(sp.port_name, ()))
                cached = rendered.get(sp.port_key)
                if cached is None or cached[0] != inputs:
                    cached = (inputs, iptables.render(sp, inputs[1], cidr, large))
                desired[sp.port_key] = cached
        return desired

    def _check_large(self) -> None:
        """Switch comment-less per-endpoint rules on or off; a switch re-renders everything."""
        large = self._endpoints > iptables.LARGE_CLUSTER_ENDPOINTS
        if large != self._large:
            self._large = large
            self._rendered.clear()
            self._full_needed = True

    async def sync(self, full: bool | None = None) -> SyncStats:
        """Apply the current state in one restore; full when asked, needed or first."""
        async with self._syncing:
            return await self._sync(full)

    async def _sync(self, full: bool | None) -> SyncStats:
        if self.backend is None:
            self.backend = await asyncio.to_thread(
                backends.choose, self.settings.backend, self.settings.netns)
        started = time.perf_counter()
        self._check_large()
        full = self._full_needed if full is None else (full or self._full_needed)
        render = asyncio.to_thread(self._desired, list(self._ports.items()), dict(self._ready))
        if full and not self._kernel_known:
            desired, kernel = await asyncio.gather(render, self._read_kernel(self.backend))
        else:
            desired, kernel = await render, None
        plan, active = self._plan(desired, full, kernel)
        text = iptables.restore_text(plan)
        self._full_needed, self._kernel_known = True, False  # until this restore succeeds
        try:
            if text:
                await self.backend.restore(text)
        except backends.IptablesError as e:
            if not full or kernel is not None:
                raise
            # The kernel was not as we left it (a hook deleted?): look, then write again.
            log.info("proxy full sync without reading the kernel failed, reading it err=%s", e)
            kernel = await self._read_kernel(self.backend)
            plan, active = self._plan(desired, full, kernel)
            text = iptables.restore_text(plan)
            await self.backend.restore(text)
        self._full_needed, self._kernel_known = False, True

        flushes = self._conntrack_flushes(desired)
        self._rendered = desired
        self._written = {key: inputs for key, (inputs, _) in desired.items()}
        self._top_written.update(plan.top)
        self._nat_chains = active
        if flushes and self.settings.flush_udp_conntrack:
            await flush(flushes, self.settings.netns)
        stats = SyncStats(full=full, service_ports=len(desired), written=len(plan.write),
                          deleted_chains=len(plan.stale_nat) + len(plan.stale_filter),
                          lines=text.count("\n"), seconds=time.perf_counter() - started)
        self.last_sync = stats
        log.info("proxy sync full=%s service_ports=%d written=%d deleted=%d lines=%d seconds=%.3f",
                 stats.full, stats.service_ports, stats.written, stats.deleted_chains,
                 stats.lines, stats.seconds)
        return stats

    @staticmethod
    async def _read_kernel(backend: backends.Backend) -> KernelState:
        return parse_save("\n" + await backend.save())

    def _plan(self, desired: dict[str, tuple[Inputs, iptables.ServiceRules]], full: bool,
              kernel: KernelState | None) -> tuple[iptables.Plan, set[str]]:
        """What to write, and the per-service chains active after it.

        Partial: what changed since the last successful sync. Full: everything; the
        stale chains and missing hooks come from `kernel` when it was read, else from
        our own bookkeeping, with every hook deleted and re-inserted (which fails
        the restore, and so makes us read the kernel, if one went missing).
        """
        rules = [r for _, r in desired.values()]
        top = iptables.top_level(rules, self.settings.masquerade_bit)
        plan = iptables.Plan(
            top={k: v for k, v in top.items() if full or self._top_written.get(k) != v},
            write=[r for key, (inputs, r) in desired.items()
                   if full or self._written.get(key) != inputs])
        active = {c for r in rules for c in r.chains}
        if kernel is None:
            plan.stale_nat = self._nat_chains - active
            if full:
                plan.reinsert_hooks = iptables.HOOKS
            return plan, active
        prefixes = iptables.SERVICE_PREFIXES
        plan.stale_nat = {c for c in kernel.nat_chains if c.startswith(prefixes)} - active
        plan.stale_filter = {c for c in kernel.filter_chains if c.startswith(prefixes)}
        plan.missing_hooks = [h for h in iptables.HOOKS if h not in kernel.hooks]
        return plan, active

    def _conntrack_flushes(self, desired: dict[str, tuple[Inputs, Any]]) -> list[Flush]:
        """UDP flows to forget after this sync: to endpoints that left, and to services
        that had no endpoint (their flows were never translated)."""
        flushes: list[Flush] = []
        for key, (old_sp, old_eps) in self._written.items():
            if old_sp.protocol != "udp":
                continue
            new_eps = desired[key][0][1] if key in desired else ()
            if old_eps:
                gone = {ep.ip for ep in old_eps} - {ep.ip for ep in new_eps}
            else:
                gone = {""} if new_eps else set()
            for ip in sorted(gone):
                flushes.append(Flush("udp", orig_dst=old_sp.cluster_ip, dst_nat=ip))
                if old_sp.node_port:
                    flushes.append(Flush("udp", orig_port_dst=old_sp.node_port, dst_nat=ip))
        return flushes

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch Services and Endpoints and keep iptables in step, forever."""
        services = Informer(self._client, SERVICES)
        services.add_handlers(on_add=self.set_service,
                              on_update=lambda _old, new: self.set_service(new),
                              on_delete=self.delete_service)
        endpoints = Informer(self._client, ENDPOINTS)
        endpoints.add_handlers(on_add=self.set_endpoints,
                               on_update=lambda _old, new: self.set_endpoints(new),
                               on_delete=self.delete_endpoints)
        informers = (services, endpoints)
        async with asyncio.TaskGroup() as tasks:
            for inf in informers:
                tasks.create_task(inf.run(), name="proxy-informer")
            for inf in informers:
                await inf.wait_synced()
            tasks.create_task(self.loop(), name="proxy-sync-loop")

    async def loop(self) -> None:
        """Sync when woken (after a short coalescing pause) or when a full sync is due."""
        clock = asyncio.get_running_loop().time
        next_full = clock()
        retry = 1.0
        while True:
            self._wake.clear()
            try:
                await self.sync(full=clock() >= next_full)
                if self.last_sync and self.last_sync.full:
                    next_full = clock() + self.settings.full_sync_period
                retry = 1.0
                timeout = max(0.0, next_full - clock())
            except backends.IptablesError as e:
                log.error("proxy sync failed retry_in=%.1f err=%s", retry, e)
                timeout, retry = retry, min(retry * 2, RETRY_MAX)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
                await asyncio.sleep(self.settings.min_sync_interval)
            except TimeoutError:
                pass

    async def cleanup(self) -> None:
        """Remove every chain and hook of ours, from both backends (for `down`)."""
        await remove_everywhere(self.settings.netns)
        self._written.clear()
        self._top_written.clear()
        self._nat_chains.clear()
        self._full_needed, self._kernel_known = True, False


async def remove_everywhere(netns: str | None = None) -> None:
    """`remove_all` in each backend this host offers: a previous run may have used the other."""
    for mode in backends.MODES:
        if await asyncio.to_thread(backends.available, mode, netns):
            await remove_all(backends.Backend(mode, netns))


async def remove_all(backend: backends.Backend) -> None:
    """Delete our hooks and chains from one backend in one restore (no-op if none)."""
    out: list[str] = []
    for table in ("filter", "nat"):
        text = await backend.save(table)
        ours = [c for c in _CHAIN.findall(text) if iptables.is_ours(c)]
        hooks = {(h.chain, h.target) for h in iptables.HOOKS if h.table == table}
        unhook = [f"-D {line[3:]}" for line in text.splitlines()
                  if (m := _HOOK.match(line)) and (m[1], m[2]) in hooks]
        if not ours and not unhook:
            continue
        out += [f"*{table}", *unhook, *(f":{c} - [0:0]" for c in ours),
                *(f"-X {c}" for c in ours), "COMMIT"]
    if out:
        await backend.restore("\n".join(out) + "\n")
        log.info("proxy rules removed backend=%s", backend.mode)


def _count(ready: dict[str, tuple[Endpoint, ...]]) -> int:
    return sum(len(eps) for eps in ready.values())


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"
