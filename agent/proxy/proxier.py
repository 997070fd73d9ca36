"""The service proxy: Services + Endpoints in, one iptables-restore per sync out.

Sync strategy (kube-proxy's, a step further; the bookkeeping is state.RuleSet):
- full sync at start, every `full_sync_period` and after any failure: every
  chain of ours rewritten. When the kernel state is unknown (start, after a
  failed restore) our chains and hooks are read back first and strangers with
  our prefixes deleted; otherwise stale chains come from the bookkeeping and
  every hook is deleted and re-inserted in the same transaction, so a hook
  someone removed fails the restore, which then reads the kernel and retries.
  The text streams into iptables-restore while it renders.
- partial sync on changes: only the services changed since the last sync are
  looked at, and only chains whose text changed are written (KUBE-SERVICES & co
  only when one of their lines changed); their stale chains are deleted.
Between changes nothing runs: the loop sleeps on an event the informer handlers
set. With legacy iptables every restore copies the whole table in and out of
the kernel, so that copy, not our Python, is what a sync costs at scale.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from agent.proxy import iptables
from agent.proxy.conntrack import flush
from agent.proxy.healthcheck import HealthCheckServer, ServiceHealth
from agent.proxy.model import Endpoint, ServicePort, ready_endpoints, renderable, service_ports
from agent.proxy.settings import ProxySettings
from agent.proxy.state import STREAM_BATCH, Change, KernelState, Ports, Ready, RuleSet
from cni_plugins import iptables_runner as backends
from minikube_py.api.backoff import Backoff
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import ENDPOINTS, SERVICES
from minikube_py.api.types import Object
from minikube_py.client import Informer
from minikube_py.client.events import EventRecorder

log = logging.getLogger(__name__)

SKIPPED_REASON = "FailedToProgramService"

# A failed sync leaves the rules as they were (endpoints that came or went meanwhile are
# missed) until it is retried; with no further change to wake the loop, the backoff alone
# decides how long. Capped low: staleness stays bounded by a few seconds, while a failure
# that persists still costs at most one sync (~2 s at 10,000 services) per RETRY_MAX.
RETRY_MAX = 5.0
# Anything a sync's tools can fail with: iptables' own errors, and processes that cannot
# start or time out (fork fails under memory or pid pressure, a binary went missing).
SYNC_ERRORS = (backends.IptablesError, OSError, subprocess.SubprocessError)


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
        self._ports: Ports = {}
        self._ready: Ready = {}
        self._dirty: set[str] = set()  # services changed since the last successful sync
        self._endpoints = 0  # ready endpoints over all services
        self._rules = RuleSet(self.settings.cluster_cidr, self.settings.masquerade_bit)
        self._full_needed = True
        self._kernel_known = False  # our bookkeeping matches the kernel (last restore worked)
        self._wake = asyncio.Event()
        self._syncing = asyncio.Lock()  # one restore at a time, whoever calls sync()
        self.last_sync: SyncStats | None = None
        self._health_ports: dict[str, int] = {}  # "ns/name" -> its healthCheckNodePort
        self._warned: dict[str, str] = {}  # "ns/name" -> the last warning recorded for it
        self._events = EventRecorder(client, "kube-proxy", host=self.settings.node_name or None) \
            if client is not None else None
        self._event_tasks: set[asyncio.Task[None]] = set()
        self.health: HealthCheckServer | None = None
        if self.settings.health_check_address is not None:
            self.health = HealthCheckServer(self.settings.health_check_address,
                                            lambda: self._kernel_known)

    # -- inputs: informer handlers (and tests) call these; they only record and wake ----------

    def set_service(self, service: Object) -> None:
        key = object_key(service)
        self._ports[key] = self._renderable_ports(key, service)
        port = health_check_port(service)
        if port:
            self._health_ports[key] = port
        else:
            self._health_ports.pop(key, None)
        self._changed(key)

    def _renderable_ports(self, key: str, service: Object) -> list[ServicePort]:
        """What of `service` can be programmed. One Service this proxy cannot render is
        left out with a Warning Event on it, instead of failing every sync (one
        iptables-restore carries all Services)."""
        try:
            ports = [renderable(sp) for sp in service_ports(service)]
        except (KeyError, TypeError, ValueError) as e:
            self._warn(key, service, f"cannot be programmed by kube-proxy and is skipped: {e}")
            return []
        left_out = sorted({a for _, out in ports for a in out})
        if left_out:
            self._warn(key, service, "addresses of another IP family left out by kube-proxy: "
                                     + ", ".join(left_out))
        else:
            self._warned.pop(key, None)
        return [sp for sp, _ in ports]

    def _warn(self, key: str, service: Object, message: str) -> None:
        """Log and (once per distinct message) record a Warning Event on the Service."""
        if self._warned.get(key) == message:
            return
        self._warned[key] = message
        log.warning("service skipped by proxy service=%s reason=%s", key, message)
        if self._events is not None:
            task = asyncio.get_running_loop().create_task(self._events.event(
                {"apiVersion": "v1", "kind": "Service", **service}, "Warning",
                SKIPPED_REASON, message))
            self._event_tasks.add(task)
            task.add_done_callback(self._event_tasks.discard)

    def delete_service(self, service: Object) -> None:
        key = object_key(service)
        self._warned.pop(key, None)
        self._ports.pop(key, None)
        self._health_ports.pop(key, None)
        self._changed(key)

    def set_endpoints(self, endpoints: Object) -> None:
        key, ready = object_key(endpoints), ready_endpoints(endpoints, self.settings.node_name)
        self._endpoints += _count(ready) - _count(self._ready.get(key, {}))
        self._ready[key] = ready
        self._changed(key)

    def delete_endpoints(self, endpoints: Object) -> None:
        key = object_key(endpoints)
        self._endpoints -= _count(self._ready.pop(key, {}))
        self._changed(key)

    def _changed(self, service_key: str) -> None:
        self._dirty.add(service_key)
        self._wake.set()

    # -- one sync ---------------------------------------------------------------------------

    async def sync(self, full: bool | None = None) -> SyncStats:
        """Apply the current state in one restore; full when asked, needed or first."""
        async with self._syncing:
            return await self._sync(full)

    async def _sync(self, full: bool | None) -> SyncStats:
        if self.backend is None:
            self.backend = await asyncio.to_thread(
                backends.choose, self.settings.backend, self.settings.netns)
        started = time.perf_counter()
        large = self._endpoints > iptables.LARGE_CLUSTER_ENDPOINTS
        full = (self._full_needed or large != self._rules.large) if full is None else (
            full or self._full_needed or large != self._rules.large)
        dirty, self._dirty = self._dirty, set()
        # Until a restore succeeds: the next sync is full and reads the kernel first.
        kernel_known, self._full_needed, self._kernel_known = self._kernel_known, True, False
        if full:
            change, lines = await self._full_sync(self.backend, large, kernel_known)
        else:
            change = self._rules.partial(dirty, self._ports, self._ready)
            text = iptables.restore_text(change.plan)
            if text:
                await self.backend.restore(text)
            lines = text.count("\n")
        self._full_needed, self._kernel_known = False, True

        flushes = self._rules.commit(change, large)
        if flushes and self.settings.flush_udp_conntrack:
            await flush(flushes, self.settings.netns)
        if self.health is not None:
            await self.health.update(self.service_health())
        plan = change.plan
        stats = SyncStats(full=full, service_ports=len(change.desired), written=len(plan.write),
                          deleted_chains=len(plan.stale_nat) + len(plan.stale_filter),
                          lines=lines, seconds=time.perf_counter() - started)
        self.last_sync = stats
        log.log(logging.INFO if lines else logging.DEBUG,
                "proxy sync full=%s service_ports=%d written=%d deleted=%d lines=%d seconds=%.3f",
                stats.full, stats.service_ports, stats.written, stats.deleted_chains,
                stats.lines, stats.seconds)
        return stats

    async def _full_sync(self, backend: backends.Backend, large: bool,
                         kernel_known: bool) -> tuple[Change, int]:
        """Every chain rewritten; returns the change and the lines written.

        Rendering 10,000 services takes ~0.5 s. A worker thread names every chain
        (declared first: libiptc adds rules fastest that way), then renders and
        writes each block of service ports into iptables-restore as soon as it is
        ready, so the restore parses while the rest renders (two processes, two
        cores); only the closing lines wait for the whole plan and, when the
        bookkeeping is not trusted, for the kernel read alongside. If a restore that
        trusted the bookkeeping fails (someone deleted a hook?), the kernel is read
        and the sync written again.
        """
        loop = asyncio.get_running_loop()
        ports, ready = list(self._ports.items()), dict(self._ready)
        reading = None if kernel_known else asyncio.ensure_future(self._read_kernel(backend))
        rendered: list[Change] = []

        def stream() -> int:
            lines = 0
            with backend.restoring() as write:
                def put(chunk: str) -> None:
                    nonlocal lines
                    lines += chunk.count("\n")
                    write(chunk)

                put(iptables.full_sync_head())
                for i in range(0, len(ports), STREAM_BATCH):  # every chain declared first
                    put(iptables.declare(
                        c for key, svc_ports in ports[i:i + STREAM_BATCH] for sp in svc_ports
                        for c in iptables.chain_names(sp, ready.get(key, {}).get(sp.port_name, ()))))
                change = self._rules.full(ports, ready, large,
                                          lambda batch: put(iptables.rule_block(batch)))
                rendered.append(change)
                if reading is not None:
                    kernel = asyncio.run_coroutine_threadsafe(_result(reading), loop).result()
                    self._rules.use_kernel(change, kernel)
                put(iptables.full_sync_tail(change.plan))
            return lines

        try:
            lines = await asyncio.to_thread(stream)
        except backends.IptablesError as e:
            if reading is not None or not rendered:
                raise
            log.info("proxy full sync without reading the kernel failed, reading it err=%s", e)
            change = rendered[0]
            self._rules.use_kernel(change, await self._read_kernel(backend))
            text = iptables.restore_text(change.plan)
            await backend.restore(text)
            return change, text.count("\n")
        finally:  # a restore that failed early leaves the read running: never abandon it
            if reading is not None:
                await asyncio.gather(reading, return_exceptions=True)
        return rendered[0], lines

    @staticmethod
    async def _read_kernel(backend: backends.Backend) -> KernelState:
        return parse_save("\n" + await backend.save())

    def service_health(self) -> dict[int, ServiceHealth]:
        """healthCheckNodePort -> the Service's ready endpoints on this node (by address)."""
        out = {}
        for key, port in self._health_ports.items():
            namespace, _, name = key.partition("/")
            local = {ep.ip for eps in self._ready.get(key, {}).values() for ep in eps if ep.local}
            out[port] = ServiceHealth(namespace, name, len(local))
        return out

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
        try:
            async with asyncio.TaskGroup() as tasks:
                for inf in informers:
                    tasks.create_task(inf.run(), name="proxy-informer")
                for inf in informers:
                    await inf.wait_synced()
                tasks.create_task(self.loop(), name="proxy-sync-loop")
        finally:
            for task in self._event_tasks:
                task.cancel()
            await asyncio.gather(*self._event_tasks, return_exceptions=True)
            if self.health is not None:
                await self.health.close()

    async def loop(self) -> None:
        """Sync when woken (after a short coalescing pause) or when a full sync is due."""
        clock = asyncio.get_running_loop().time
        next_full = clock()
        retry = Backoff(1.0, RETRY_MAX)
        while True:
            self._wake.clear()
            try:
                await self.sync(full=clock() >= next_full)
                if self.last_sync and self.last_sync.full:
                    next_full = clock() + self.settings.full_sync_period
                retry.reset()
                timeout = max(0.0, next_full - clock())
            except SYNC_ERRORS as e:
                timeout = retry.next()
                log.error("proxy sync failed retry_in=%.1f err=%r", timeout, e)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
                await asyncio.sleep(self.settings.min_sync_interval)
            except TimeoutError:
                pass

    async def cleanup(self) -> None:
        """Remove every chain and hook of ours, from both backends (for `down`)."""
        await remove_everywhere(self.settings.netns)
        self._rules.forget()
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


async def _result(future: asyncio.Future[KernelState]) -> KernelState:
    """Awaits a future of the loop, for a worker thread (run_coroutine_threadsafe)."""
    return await future


def health_check_port(service: Object) -> int:
    """spec.healthCheckNodePort of a LoadBalancer Service with externalTrafficPolicy Local."""
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer" or spec.get("externalTrafficPolicy") != "Local":
        return 0
    return int(spec.get("healthCheckNodePort") or 0)


def _count(ready: dict[str, tuple[Endpoint, ...]]) -> int:
    return sum(len(eps) for eps in ready.values())


