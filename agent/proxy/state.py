"""The proxy's bookkeeping: which rules are in the kernel, and what one sync changes.

Pure (no I/O): `full()` derives every service port's rules from the inputs and
plans a rewrite of everything; `partial()` looks only at the services touched
since the last sync and plans only the chains whose text changed; `commit()`
records a change once its restore succeeded. Rules are cached per service port
by their inputs, and a port key keeps its place in the dict, so KUBE-SERVICES
keeps its order and an endpoint change leaves it untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.proxy import iptables
from agent.proxy.conntrack import Flush
from agent.proxy.model import Endpoint, ServicePort

Inputs = tuple[ServicePort, tuple[Endpoint, ...]]
Entry = tuple[Inputs, iptables.ServiceRules]
Ports = dict[str, list[ServicePort]]                    # "ns/name" -> its ports
Ready = dict[str, dict[str, tuple[Endpoint, ...]]]      # "ns/name" -> port name -> endpoints

# Service ports per block a streamed full sync hands to iptables-restore (~10 ms to render).
STREAM_BATCH = 200


@dataclass(frozen=True)
class KernelState:
    """What a full sync reads back when it cannot trust the bookkeeping."""

    nat_chains: set[str]
    filter_chains: set[str]
    hooks: set[iptables.Hook]


@dataclass
class Change:
    """One sync: the plan to restore, and the state to record once it worked."""

    plan: iptables.Plan
    desired: dict[str, Entry]
    port_keys: dict[str, list[str]]
    active: set[str]                 # per-service nat chains after it
    touched: list[str] | None = None  # port keys looked at (None: all)
    full: bool = False


@dataclass
class RuleSet:
    """Rules now in the kernel (as of the last successful restore)."""

    cluster_cidr: str
    masquerade_bit: int = 14
    large: bool = False  # per-endpoint rules without comments (many endpoints)
    rendered: dict[str, Entry] = field(default_factory=dict)    # port key -> entry
    port_keys: dict[str, list[str]] = field(default_factory=dict)  # "ns/name" -> port keys
    top: dict[iptables.TopKey, list[str]] = field(default_factory=dict)
    nat_chains: set[str] = field(default_factory=set)

    def _entry(self, sp: ServicePort, eps: tuple[Endpoint, ...], large: bool,
               cache: dict[str, Entry]) -> Entry:
        inputs = (sp, eps)
        cached = cache.get(sp.port_key)
        if cached is not None and cached[0] == inputs and large == self.large:
            return cached
        return inputs, iptables.render(sp, eps, self.cluster_cidr, large)

    def full(self, ports: list[tuple[str, list[ServicePort]]], ready: Ready,
             large: bool, emit: Callable[[list[iptables.ServiceRules]], None] | None = None
             ) -> Change:
        """Everything from the inputs (safe to run in a thread on snapshots).

        Stale chains come from the bookkeeping, and every hook is deleted and
        re-inserted: if one went missing the restore fails, and the caller reads
        the kernel and calls `use_kernel`. `emit` is handed the rendered service
        ports every STREAM_BATCH of them, in plan.write's order, to stream.
        """
        desired: dict[str, Entry] = {}
        port_keys: dict[str, list[str]] = {}
        batch: list[iptables.ServiceRules] = []
        for svc_key, svc_ports in ports:
            by_port = ready.get(svc_key, {})
            port_keys[svc_key] = [sp.port_key for sp in svc_ports]
            for sp in svc_ports:
                entry = self._entry(sp, by_port.get(sp.port_name, ()), large, self.rendered)
                desired[sp.port_key] = entry
                if emit:
                    batch.append(entry[1])
            if emit and len(batch) >= STREAM_BATCH:
                emit(batch)
                batch = []
        if emit and batch:
            emit(batch)
        rules = [r for _, r in desired.values()]
        plan = iptables.Plan(top=iptables.top_level(rules, self.masquerade_bit), write=rules)
        active = {c for r in rules for c in r.chains}
        plan.stale_nat, plan.reinsert_hooks = self.nat_chains - active, iptables.HOOKS
        return Change(plan, desired, port_keys, active, full=True)

    @staticmethod
    def use_kernel(change: Change, kernel: KernelState) -> None:
        """Base a full change's deletions and hooks on what the kernel really holds."""
        plan, prefixes = change.plan, iptables.SERVICE_PREFIXES
        plan.stale_nat = {c for c in kernel.nat_chains if c.startswith(prefixes)} - change.active
        plan.stale_filter = {c for c in kernel.filter_chains if c.startswith(prefixes)}
        plan.missing_hooks = [h for h in iptables.HOOKS if h not in kernel.hooks]
        plan.reinsert_hooks = ()

    def partial(self, dirty: set[str], ports: Ports, ready: Ready) -> Change:
        """Only the services in `dirty`; the chains whose text changed, nothing else."""
        desired = dict(self.rendered)
        port_keys = dict(self.port_keys)
        touched: list[str] = []
        for svc_key in dirty:
            old_keys = port_keys.pop(svc_key, [])
            by_port = ready.get(svc_key, {})
            new_keys = []
            for sp in ports.get(svc_key, []):
                desired[sp.port_key] = self._entry(sp, by_port.get(sp.port_name, ()), self.large,
                                                   desired)
                new_keys.append(sp.port_key)
            for gone in set(old_keys) - set(new_keys):
                del desired[gone]
            if new_keys:
                port_keys[svc_key] = new_keys
            touched += old_keys + new_keys

        write: list[iptables.ServiceRules] = []
        stale: set[str] = set()
        new_chains: set[str] = set()
        top_changed = False
        for key in dict.fromkeys(touched):
            old, new = self.rendered.get(key), desired.get(key)
            if old is new:
                continue
            if new is not None:
                write.append(new[1])
                new_chains.update(new[1].chains)
            if old is not None:
                stale.update(old[1].chains)
            top_changed = top_changed or old is None or new is None or _top_lines(
                old[1]) != _top_lines(new[1])
        stale -= new_chains
        top: dict[iptables.TopKey, list[str]] = {}
        if top_changed:
            rules = [r for _, r in desired.values()]
            top = {k: v for k, v in iptables.top_level(rules, self.masquerade_bit).items()
                   if self.top.get(k) != v}
        plan = iptables.Plan(top=top, write=write, stale_nat=stale)
        return Change(plan, desired, port_keys, (self.nat_chains - stale) | new_chains,
                      touched=touched)

    def commit(self, change: Change, large: bool) -> list[Flush]:
        """Record a change whose restore succeeded; returns the conntrack flushes it needs."""
        keys = self.rendered.keys() | change.desired.keys() if change.touched is None \
            else set(change.touched)
        flushes = [f for key in sorted(keys)
                   for f in _flushes(self.rendered.get(key), change.desired.get(key))]
        self.rendered, self.port_keys = change.desired, change.port_keys
        self.top.update(change.plan.top)
        self.nat_chains = change.active
        self.large = large
        return flushes

    def forget(self) -> None:
        """After our rules were removed: nothing of ours is in the kernel any more."""
        self.rendered, self.port_keys, self.top, self.nat_chains = {}, {}, {}, set()


def _top_lines(r: iptables.ServiceRules) -> tuple[str, str, str, str]:
    return r.nat_services, r.nat_nodeports, r.filter_services, r.filter_external


def _flushes(old: Entry | None, new: Entry | None) -> list[Flush]:
    """UDP flows to forget: to endpoints that left, and to a service that had none
    (flows made then were never translated)."""
    if old is None:
        return []
    sp, old_eps = old[0]
    if sp.protocol != "udp":
        return []
    new_eps = new[0][1] if new is not None else ()
    if old_eps:
        gone = sorted({ep.ip for ep in old_eps} - {ep.ip for ep in new_eps})
    else:
        gone = [""] if new_eps else []
    out = []
    for ip in gone:
        out.append(Flush("udp", orig_dst=sp.cluster_ip, dst_nat=ip))
        if sp.node_port:
            out.append(Flush("udp", orig_port_dst=sp.node_port, dst_nat=ip))
    return out
