"""The iptables rules of kube-proxy's iptables mode, as iptables-restore text.

Shape (same chain names and rule shapes as kube-proxy, so its docs apply):

    nat    PREROUTING, OUTPUT -> KUBE-SERVICES
             -> KUBE-SVC-<h>  per service port: mark outside-cluster traffic, then pick an
                              endpoint at random (1/n, 1/(n-1), ... 1/2, rest) or by affinity
                  -> KUBE-SEP-<h>  per endpoint: mark hairpin traffic, DNAT
             -> KUBE-NODEPORTS (last rule, local destinations only)
                  -> KUBE-EXT-<h>  mark (external traffic is always masqueraded), -> KUBE-SVC-<h>
           POSTROUTING -> KUBE-POSTROUTING: MASQUERADE what carries the mark
    filter INPUT/FORWARD/OUTPUT -> KUBE-SERVICES / KUBE-EXTERNAL-SERVICES:
           REJECT service ports without ready endpoints, so clients fail at once.

Chain names are a prefix plus 16 characters of base32(sha256(...)) so they stay
under iptables' 28 character limit and are stable across restarts.

Everything here is pure text: `render()` turns one service port into its lines,
`top_level()` gathers the chains all services share, `restore_text()` writes
what changed as one transaction per table (`full_sync_head/tail()`,
`declare()` and `rule_block()` the same in pieces, to stream a full sync while
it renders).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from agent.proxy.model import Endpoint, ServicePort

SERVICES = "KUBE-SERVICES"
EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
NODEPORTS = "KUBE-NODEPORTS"
POSTROUTING = "KUBE-POSTROUTING"
MARK_MASQ = "KUBE-MARK-MASQ"

# Per-service chains: anything with these prefixes that we did not write this sync is stale.
SERVICE_PREFIXES = ("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-")

# Above this many endpoints, nat rules take their lean form (kube-proxy's
# largeClusterEndpointsThreshold, which drops per-endpoint comments; we go further, see
# render()): legacy iptables copies and checks the whole table on every restore.
LARGE_CLUSTER_ENDPOINTS = 1000
NAT_FIXED = (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)
FILTER_FIXED = (SERVICES, EXTERNAL_SERVICES)


@dataclass(frozen=True)
class Hook:
    """A jump from a built-in chain into ours, inserted first as kube-proxy does (added
    once, checked at every full sync)."""

    table: str
    chain: str
    spec: str
    target: str

    @property
    def rule(self) -> str:
        return f"-I {self.chain} {self.spec} -j {self.target}"

    @property
    def delete(self) -> str:
        return f"-D {self.chain} {self.spec} -j {self.target}"


HOOKS = (
    Hook("nat", "PREROUTING", '-m comment --comment "kubernetes service portals"', SERVICES),
    Hook("nat", "OUTPUT", '-m comment --comment "kubernetes service portals"', SERVICES),
    Hook("nat", "POSTROUTING", '-m comment --comment "kubernetes postrouting rules"',
         POSTROUTING),
    Hook("filter", "INPUT", "-m conntrack --ctstate NEW -m comment --comment "
         '"kubernetes externally-visible service portals"', EXTERNAL_SERVICES),
    Hook("filter", "FORWARD", "-m conntrack --ctstate NEW -m comment --comment "
         '"kubernetes externally-visible service portals"', EXTERNAL_SERVICES),
    Hook("filter", "FORWARD", "-m conntrack --ctstate NEW -m comment --comment "
         '"kubernetes service portals"', SERVICES),
    Hook("filter", "OUTPUT", "-m conntrack --ctstate NEW -m comment --comment "
         '"kubernetes service portals"', SERVICES),
)


def is_ours(chain: str) -> bool:
    """Chains this proxy owns (by name), in nat or filter."""
    return chain.startswith(SERVICE_PREFIXES) or chain in NAT_FIXED or chain in FILTER_FIXED


@lru_cache(maxsize=1 << 17)
def chain_name(prefix: str, *parts: str) -> str:
    """kube-proxy's naming: prefix + first 16 chars of base32(sha256(joined parts))."""
    digest = hashlib.sha256("".join(parts).encode()).digest()
    # 16 base32 characters encode exactly the first 10 bytes.
    return prefix + base64.b32encode(digest[:10]).decode()


def service_chain(sp: ServicePort) -> str:
    return chain_name("KUBE-SVC-", sp.port_key, sp.protocol)


def external_chain(sp: ServicePort) -> str:
    return chain_name("KUBE-EXT-", sp.port_key, sp.protocol)


def endpoint_chain(sp: ServicePort, ep: Endpoint) -> str:
    return chain_name("KUBE-SEP-", sp.port_key, sp.protocol, str(ep))


def chain_names(sp: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[str]:
    """The own chains `render` gives a service port with these endpoints, in its order
    (named without rendering, so a streamed full sync can declare them all first)."""
    if not endpoints:
        return []
    ext = [external_chain(sp)] if sp.node_port else []
    return [*ext, service_chain(sp), *(endpoint_chain(sp, ep) for ep in endpoints)]


def probability(n: int) -> str:
    """1/n with kube-proxy's formatting (ten decimals), the statistic match's argument."""
    return f"{1.0 / n:0.10f}"


def comment(text: str) -> str:
    """A comment match; quoted only when it has a space, as iptables-save prints it."""
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """The lines one service port contributes, grouped by where they go.

    Each chain's rules are kept as one pre-joined block: at 10,000 services
    that is 60,000 strings instead of 230,000 lines to hold, join and let the
    garbage collector walk.
    """

    nat_services: str = ""
    nat_nodeports: str = ""
    filter_services: str = ""
    filter_external: str = ""
    # Own chains, in order: name -> its "-A" lines (chains are written whole or not at all).
    chains: dict[str, str] = field(default_factory=dict)


def render(sp: ServicePort, endpoints: tuple[Endpoint, ...], cluster_cidr: str,
           large: bool = False) -> ServiceRules:
    """All rules of one service port with the given ready endpoints.

    `large` (see LARGE_CLUSTER_ENDPOINTS) writes the lean form of the same rules: no
    comments in nat, and no `-m tcp` match where the rule's position already implies
    it (the DNAT, and the masquerade mark of a chain only KUBE-SERVICES' port match and
    the already-marking KUBE-EXT reach). Every match is an object the kernel checks and
    copies at each restore, and a comment alone is 288 bytes of it.
    """
    key, proto = sp.port_key, sp.protocol
    match = f"-m {proto} -p {proto}"
    to_cluster_ip = f"{match} -d {sp.cluster_ip} --dport {sp.port}"
    if not endpoints:
        no_eps = comment(f"{key} has no endpoints")
        reject = "-j REJECT --reject-with icmp-port-unreachable"
        return ServiceRules(
            filter_services=f"-A {SERVICES} {no_eps} {to_cluster_ip} {reject}",
            filter_external=f"-A {EXTERNAL_SERVICES} {no_eps} -m addrtype --dst-type LOCAL "
                            f"{match} --dport {sp.node_port} {reject}" if sp.node_port else "")

    def note(text: str) -> str:
        return "" if large else comment(text) + " "

    svc = service_chain(sp)
    cluster_ip_note = note(f"{key} cluster IP")
    chains: dict[str, str] = {}
    nodeports = ""
    if sp.node_port:
        ext = external_chain(sp)
        nodeports = f"-A {NODEPORTS} {note(key)}{match} --dport {sp.node_port} -j {ext}"
        chains[ext] = (
            f"-A {ext} {note(f'masquerade traffic for {key} external destinations')}"
            f"-j {MARK_MASQ}\n-A {ext} -j {svc}")

    outside = f"-p {proto} -d {sp.cluster_ip}" if large else to_cluster_ip
    svc_rules = [f"-A {svc} {cluster_ip_note}{outside} ! -s {cluster_cidr} -j {MARK_MASQ}"]
    seps = [endpoint_chain(sp, ep) for ep in endpoints]
    to_ep = [note(f"{key} -> {ep}") for ep in endpoints]
    if sp.affinity_seconds:
        svc_rules.extend(
            f"-A {svc} {to}-m recent --name {sep} --rcheck "
            f"--seconds {sp.affinity_seconds} --reap -j {sep}"
            for to, sep in zip(to_ep, seps))
    n = len(endpoints)
    for i, (to, sep) in enumerate(zip(to_ep, seps)):
        pick = f"-m statistic --mode random --probability {probability(n - i)} " if i < n - 1 else ""
        svc_rules.append(f"-A {svc} {to}{pick}-j {sep}")
    chains[svc] = "\n".join(svc_rules)

    short, dnat = note(key), f"-p {proto}" if large else match
    for ep, sep in zip(endpoints, seps):
        remember = f"-m recent --name {sep} --set " if sp.affinity_seconds else ""
        chains[sep] = (f"-A {sep} {short}-s {ep.ip} -j {MARK_MASQ}\n"
                       f"-A {sep} {short}{remember}{dnat} -j DNAT --to-destination {ep}")
    return ServiceRules(
        nat_services=f"-A {SERVICES} {cluster_ip_note}{to_cluster_ip} -j {svc}",
        nat_nodeports=nodeports, chains=chains)


def fixed_nat_rules(masquerade_bit: int) -> list[str]:
    """KUBE-POSTROUTING and KUBE-MARK-MASQ: the same every sync."""
    mark = f"{1 << masquerade_bit:#x}"
    return [
        f"-A {POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN",
        # Clear the bit so a packet re-entering the stack (e.g. into a tunnel) is not masqueraded twice.
        f"-A {POSTROUTING} -j MARK --xor-mark {mark}",
        (f"-A {POSTROUTING} {comment('kubernetes service traffic requiring SNAT')} "
         "-j MASQUERADE --random-fully"),
        f"-A {MARK_MASQ} -j MARK --or-mark {mark}",
    ]


NODEPORTS_JUMP = (
    f"-A {SERVICES} "
    f"{comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} "
    f"-m addrtype --dst-type LOCAL -j {NODEPORTS}")


TopKey = tuple[str, str]  # (table, chain)


def top_level(rules: list[ServiceRules], masquerade_bit: int) -> dict[TopKey, list[str]]:
    """The chains every service port contributes to, whole, in writing order."""
    def gather(attr: str) -> list[str]:
        return [block for r in rules if (block := getattr(r, attr))]

    nat_fixed = fixed_nat_rules(masquerade_bit)
    return {
        ("filter", SERVICES): gather("filter_services"),
        ("filter", EXTERNAL_SERVICES): gather("filter_external"),
        ("nat", SERVICES): [*gather("nat_services"), NODEPORTS_JUMP],
        ("nat", NODEPORTS): gather("nat_nodeports"),
        ("nat", POSTROUTING): nat_fixed[:-1],
        ("nat", MARK_MASQ): nat_fixed[-1:],
    }


@dataclass
class Plan:
    """One sync's input to `restore_text`: only what is to be (re)written or deleted."""

    top: dict[TopKey, list[str]]          # top-level chains to rewrite
    write: list[ServiceRules]             # service ports whose own chains are rewritten
    stale_nat: Collection[str] = ()       # our chains to delete
    stale_filter: Collection[str] = ()
    missing_hooks: Collection[Hook] = ()   # inserted
    reinsert_hooks: Collection[Hook] = ()  # deleted, then inserted (fails if one is missing)


def restore_text(plan: Plan) -> str:
    """The iptables-restore --noflush input applying `plan`: one transaction per table
    that has something to change (nat, then filter), nothing at all for an empty plan.

    Declaring a chain (":NAME - [0:0]") flushes it, so only chains being rewritten are
    declared, each before anything jumps to it and followed by all of its rules; stale
    chains are declared (emptied) and then deleted, after every chain that jumped to
    them has been rewritten.
    """
    nat = [c for t, c in plan.top if t == "nat"]
    text = ""
    if nat or plan.write or plan.stale_nat or _hooks(plan, "nat"):
        own = [c for r in plan.write for c in r.chains]
        text = open_table("nat", nat) + declare(own) + rule_block(plan.write) + \
            close_table(plan, "nat")
    filter_top = [c for t, c in plan.top if t == "filter"]
    if filter_top or plan.stale_filter or _hooks(plan, "filter"):
        text += open_table("filter", filter_top) + close_table(plan, "filter")
    return text


def full_sync_head() -> str:
    """How a full sync's text starts; it needs nothing rendered yet."""
    return open_table("nat", NAT_FIXED)


def full_sync_tail(plan: Plan) -> str:
    """How a full sync's text ends. Head, `declare` of every `chain_names` of plan.write
    in order, `rule_block`s of plan.write in order, tail: together they are
    `restore_text(plan)`, in pieces a caller can stream into iptables-restore while
    later services still render (and before stale chains and hooks are known)."""
    return close_table(plan, "nat") + open_table("filter", FILTER_FIXED) + \
        close_table(plan, "filter")


def open_table(table: str, top: Iterable[str]) -> str:
    """A table's transaction up to its top-level chains' declarations."""
    return f"*{table}\n" + declare(top)


def declare(chains: Iterable[str]) -> str:
    """Declarations (a rewritten chain is declared, so flushed, before any rule: every
    jump then lands on a chain iptables-restore already knows, and libiptc adds rules
    fastest when all chains come first)."""
    return "".join(f":{c} - [0:0]\n" for c in chains)


def rule_block(rules: Iterable[ServiceRules]) -> str:
    """Service ports' own (nat) chains' rules; blocks concatenate."""
    return "".join(f"{b}\n" for r in rules for b in r.chains.values())


def close_table(plan: Plan, table: str) -> str:
    """The rest of a table's transaction: top-level rules, hooks, stale chains, COMMIT."""
    stale = sorted(plan.stale_nat if table == "nat" else plan.stale_filter)
    lines = [line for (t, _), rules in plan.top.items() if t == table for line in rules]
    lines += _hooks(plan, table)
    lines += [f"-X {c}" for c in stale]
    return declare(stale) + "".join(f"{line}\n" for line in lines) + "COMMIT\n"


def _hooks(plan: Plan, table: str) -> list[str]:
    """Hook lines: re-inserted ones deleted first, then every insert."""
    hooks = [h.delete for h in plan.reinsert_hooks if h.table == table]
    return hooks + [h.rule for h in (*plan.reinsert_hooks, *plan.missing_hooks)
                    if h.table == table]
