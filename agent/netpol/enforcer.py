"""The agent's NetworkPolicy enforcer (k3s's embedded kube-router network-policy controller):
NetworkPolicies, Pods and Namespaces in, ipsets and one filter restore per sync out.

Every sync writes the whole plan (policies change rarely; a sync at 500 pods x 200
policies is one ipset restore and one iptables-restore): sets are created or swapped
first, then the rules that match them, then sets no rule names any more are destroyed.
Changes are coalesced; a failed sync is retried with back-off. On the way out everything
of ours goes: the hook, the chains, the sets.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import time
from dataclasses import dataclass

from agent.netpol import rules
from agent.netpol.policy import SET_PREFIX, Plan, Planner, pod_of
from cni_plugins import ipset_runner
from cni_plugins import iptables_runner as backends
from minikube_py.api.backoff import Backoff
from minikube_py.api.resources import NAMESPACES, NETWORKPOLICIES, PODS
from minikube_py.client import ApiClient, Informer

log = logging.getLogger(__name__)

SYNC_ERRORS = (backends.IptablesError, ipset_runner.IpsetError, OSError,
               subprocess.SubprocessError)
_CHAIN = re.compile(r"^:(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class NetpolSettings:
    node_name: str
    # Run iptables and ipset in this named netns (tests); None: our own.
    netns: str | None = None
    min_sync_interval: float = 0.1
    # Rewrite everything this often even without changes (repairs what others flushed).
    full_sync_period: float = 60.0


@dataclass(frozen=True)
class SyncStats:
    policies: int
    sets: int
    rules: int
    seconds: float


def apply(plan: Plan, netns: str | None = None) -> SyncStats:
    """Make the kernel hold exactly `plan`: sets created or swapped first, then the rules
    that match them, then the sets no rule names any more destroyed. An empty plan
    removes everything of ours."""
    started = time.perf_counter()
    backend = backends.firewall(netns)
    ipset_runner.apply(plan.sets, netns)
    saved = backend.save_sync("filter")
    hooked = f"-A FORWARD {rules.HOOK}" in saved
    text = rules.restore_text(plan, set(_CHAIN.findall(saved)), hooked)
    if text:
        backend.restore_sync(text)
    ipset_runner.destroy(ipset_runner.names(SET_PREFIX, netns) - plan.sets.keys(), netns)
    stats = SyncStats(len(plan.dispatch), len(plan.sets),
                      sum(len(r) for r in plan.chains.values()), time.perf_counter() - started)
    log.log(logging.INFO if plan.dispatch or text else logging.DEBUG,
            "network policy sync policies=%d sets=%d rules=%d seconds=%.3f",
            stats.policies, stats.sets, stats.rules, stats.seconds)
    return stats


class Enforcer:
    """Keeps this node's filter rules and ipsets in step with the NetworkPolicies."""

    def __init__(self, client: ApiClient, settings: NetpolSettings) -> None:
        self.settings = settings
        self.policies, self.pods, self.namespaces = (
            Informer(client, r)
            for r in (NETWORKPOLICIES, PODS, NAMESPACES))
        self._wake = asyncio.Event()
        for informer in (self.policies, self.pods, self.namespaces):
            informer.add_handlers(lambda _o: self._wake.set(), lambda _o, _n: self._wake.set(),
                                  lambda _o: self._wake.set())
        self.last_sync: SyncStats | None = None
        self._applied: Plan | None = None  # what the kernel holds, if known

    def planner(self) -> Planner:
        pods = [p for obj in self.pods.list() if (p := pod_of(obj)) is not None]
        namespaces = {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
                      for n in self.namespaces.list()}
        return Planner(pods, namespaces, self.settings.node_name)

    def sync_blocking(self, plan: Plan) -> SyncStats:
        """Apply `plan` (in a worker thread: a few short processes)."""
        self.last_sync = apply(plan, self.settings.netns)
        return self.last_sync

    async def sync(self, force: bool = True) -> SyncStats | None:
        """Apply what the caches say; unless `force`, only if it differs from what was last
        applied (pod churn without policies costs no process at all)."""
        planner = self.planner()
        policies = list(self.policies.list())
        plan = await asyncio.to_thread(planner.plan, policies)
        if not force and plan == self._applied:
            return None
        self._applied = None  # unknown until this apply succeeds
        stats = await asyncio.to_thread(self.sync_blocking, plan)
        self._applied = plan
        return stats

    def cleanup_blocking(self) -> None:
        """Remove the hook, our chains and our sets (idempotent)."""
        apply(Plan(), self.settings.netns)

    async def run(self) -> None:
        informers = (self.policies, self.pods, self.namespaces)
        tasks = [asyncio.create_task(i.run(), name=f"netpol-{i.resource.plural}")
                 for i in informers]
        retry = Backoff(1.0, 30.0)
        clock = asyncio.get_running_loop().time
        try:
            for informer in informers:
                await informer.wait_synced()
            next_full = clock()
            while True:
                self._wake.clear()
                timeout = self.settings.full_sync_period
                try:
                    full = clock() >= next_full
                    await self.sync(force=full)
                    if full:
                        next_full = clock() + self.settings.full_sync_period
                    retry.reset()
                except SYNC_ERRORS as e:
                    timeout = retry.next()
                    log.error("network policy sync failed retry_in=%.1f err=%s", timeout, e)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                    await asyncio.sleep(self.settings.min_sync_interval)
                except TimeoutError:
                    pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await asyncio.to_thread(self.cleanup_blocking)
            except SYNC_ERRORS as e:
                log.error("network policy cleanup failed err=%s", e)
