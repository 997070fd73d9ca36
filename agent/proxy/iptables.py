"""The iptables rules of kube-proxy's iptables mode, as iptables-restore text.

Shape (same chain names and rule shapes as kube-proxy, so its docs apply):

    nat    PREROUTING, OUTPUT -> KUBE-SERVICES
             -> KUBE-SVC-<h>  per service port: mark outside-cluster traffic, then pick an
                              endpoint at random (1/n, 1/(n-1), ... 1/2, rest) or by affinity
                  -> KUBE-SEP-<h>  per endpoint: mark hairpin traffic, DNAT
                (-> KUBE-SVL-<h>  the same over this node's endpoints: internalTrafficPolicy
                                  Local, and externalTrafficPolicy Local's external traffic)
             -> KUBE-EXT-<h>  external IPs, LoadBalancer addresses (through KUBE-FW-<h>,
                              which lets loadBalancerSourceRanges in), and
             -> KUBE-NODEPORTS (last rule, local destinations only) -> KUBE-EXT-<h>:
                  Cluster: mark (masquerade), -> KUBE-SVC-<h>
                  Local: pod and node traffic -> KUBE-SVC-<h>, the rest -> KUBE-SVL-<h>
                         unmasqueraded, so the backend sees the client's address
           POSTROUTING -> KUBE-POSTROUTING: MASQUERADE what carries the mark
    filter INPUT/FORWARD/OUTPUT -> KUBE-SERVICES / KUBE-EXTERNAL-SERVICES:
           REJECT service ports without ready endpoints, so clients fail at once (DROP
           when the only endpoints are on other nodes and the policy is Local);
           -> KUBE-PROXY-FIREWALL: DROP what KUBE-FW-<h> did not translate.

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
FIREWALL = "KUBE-PROXY-FIREWALL"

# Per-service chains: anything with these prefixes that we did not write this sync is stale.
SERVICE_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-")

# Above this many endpoints, nat rules take their lean form (kube-proxy's
# largeClusterEndpointsThreshold, which drops per-endpoint comments; we go further, see
# render()): legacy iptables copies and checks the whole table on every restore.
LARGE_CLUSTER_ENDPOINTS = 1000
NAT_FIXED = (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ)
FILTER_FIXED = (SERVICES, EXTERNAL_SERVICES, FIREWALL)


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
    *(Hook("filter", chain, "-m conntrack --ctstate NEW -m comment --comment "
           '"kubernetes load balancer firewall"', FIREWALL)
      for chain in ("INPUT", "FORWARD", "OUTPUT")),
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


def local_chain(sp: ServicePort) -> str:
    return chain_name("KUBE-SVL-", sp.port_key, sp.protocol)


def external_chain(sp: ServicePort) -> str:
    return chain_name("KUBE-EXT-", sp.port_key, sp.protocol)


def firewall_chain(sp: ServicePort) -> str:
    return chain_name("KUBE-FW-", sp.port_key, sp.protocol)


def endpoint_chain(sp: ServicePort, ep: Endpoint) -> str:
    return chain_name("KUBE-SEP-", sp.port_key, sp.protocol, str(ep))


@dataclass(frozen=True, slots=True)
class Routes:
    """Which endpoints each kind of traffic of a service port may reach, and so which
    chains it needs (kube-proxy's hasInternalEndpoints / usesLocalPolicyChain / ...)."""

    endpoints: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    internal: tuple[Endpoint, ...]   # cluster IP traffic
    external: tuple[Endpoint, ...]   # node port, external IPs, LB addresses
    uses_svc: bool
    uses_svl: bool
    uses_ext: bool
    uses_fw: bool


def routes(sp: ServicePort, endpoints: tuple[Endpoint, ...]) -> Routes:
    local = tuple(ep for ep in endpoints if ep.local) \
        if sp.internal_local or sp.external_local else ()
    internal = local if sp.internal_local else endpoints
    external = (local if sp.external_local else endpoints) if sp.has_external else ()
    return Routes(
        endpoints, local, internal, external,
        # An external Local chain still sends pod and node traffic to every endpoint.
        uses_svc=bool(endpoints) and (not sp.internal_local or bool(external)),
        uses_svl=bool(local) and (sp.internal_local or bool(external) and sp.external_local),
        uses_ext=bool(external), uses_fw=bool(external and sp.lb_ips and sp.source_ranges))


def chain_names(sp: ServicePort, endpoints: tuple[Endpoint, ...]) -> list[str]:
    """The own chains `render` gives a service port with these endpoints, in its order
    (named without rendering, so a streamed full sync can declare them all first)."""
    if not endpoints:
        return []
    if not (sp.internal_local or sp.external_local or sp.source_ranges):  # the common case
        ext = [external_chain(sp)] if sp.has_external else []
        return [*ext, service_chain(sp), *(endpoint_chain(sp, ep) for ep in endpoints)]
    r = routes(sp, endpoints)
    names = [external_chain(sp)] if r.uses_ext else []
    if r.uses_fw:
        names.append(firewall_chain(sp))
    if r.uses_svc:
        names.append(service_chain(sp))
    if r.uses_svl:
        names.append(local_chain(sp))
    used = r.endpoints if r.uses_svc else r.local
    return [*names, *(endpoint_chain(sp, ep) for ep in used)]


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
    filter_firewall: str = ""
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
    r = routes(sp, endpoints) if endpoints or sp.has_external else None
    filter_services = filter_external = ""
    if not endpoints or r is not None and not r.internal:
        filter_services = _no_endpoints(SERVICES, key, to_cluster_ip, bool(endpoints))
    if r is None:
        return ServiceRules(filter_services=filter_services)
    if sp.has_external and not r.external:
        filter_external = "\n".join(
            _no_endpoints(EXTERNAL_SERVICES, key, dst, bool(endpoints)) for dst in (
                *(f"{match} -d {ip} --dport {sp.port}" for ip in (*sp.external_ips, *sp.lb_ips)),
                *((f"-m addrtype --dst-type LOCAL {match} --dport {sp.node_port}",)
                  if sp.node_port else ())))
    if not endpoints:
        return ServiceRules(filter_services=filter_services, filter_external=filter_external)

    def note(text: str) -> str:
        return "" if large else comment(text) + " "

    svc, svl = service_chain(sp), local_chain(sp)
    internal_chain = svl if sp.internal_local else svc
    cluster_ip_note = note(f"{key} cluster IP")
    outside = f"-p {proto} -d {sp.cluster_ip}" if large else to_cluster_ip
    masq_outside = f"-A {internal_chain} {cluster_ip_note}{outside} ! -s {cluster_cidr} " \
                   f"-j {MARK_MASQ}"
    chains: dict[str, str] = {}
    nat_services = f"-A {SERVICES} {cluster_ip_note}{to_cluster_ip} -j {internal_chain}" \
        if r.internal else ""
    nodeports = filter_firewall = ""
    if r.uses_ext:
        ext = external_chain(sp)
        nodeports = f"-A {NODEPORTS} {note(key)}{match} --dport {sp.node_port} -j {ext}" \
            if sp.node_port else ""
        lb_target = ext
        if r.uses_fw:
            fw = lb_target = firewall_chain(sp)
            filter_firewall = "\n".join(
                f"-A {FIREWALL} {comment(f'{key} traffic not accepted by {fw}')} "
                f"{match} -d {ip} --dport {sp.port} -j DROP" for ip in sp.lb_ips)
        nat_services = "\n".join(filter(None, (nat_services, *(
            f"-A {SERVICES} {note(f'{key} external IP')}{match} -d {ip} --dport {sp.port} "
            f"-j {ext}" for ip in sp.external_ips), *(
            f"-A {SERVICES} {note(f'{key} loadbalancer IP')}{match} -d {ip} "
            f"--dport {sp.port} -j {lb_target}" for ip in sp.lb_ips))))
        if sp.external_local:
            local_src = "-m addrtype --src-type LOCAL"
            chains[ext] = "\n".join((
                (f"-A {ext} {note(f'pod traffic for {key} external destinations')}"
                 f"-s {cluster_cidr} -j {svc}"),
                (f"-A {ext} {note(f'masquerade LOCAL traffic for {key} external destinations')}"
                 f"{local_src} -j {MARK_MASQ}"),
                (f"-A {ext} {note(f'route LOCAL traffic for {key} external destinations')}"
                 f"{local_src} -j {svc}"),
                f"-A {ext} -j {svl}"))
        else:
            chains[ext] = (
                f"-A {ext} {note(f'masquerade traffic for {key} external destinations')}"
                f"-j {MARK_MASQ}\n-A {ext} -j {svc}")
        if r.uses_fw:
            lb_note = note(f"{key} loadbalancer IP")
            chains[fw] = "\n".join((
                *(f"-A {fw} {lb_note}-s {cidr} -j {ext}" for cidr in sp.source_ranges),
                f"-A {fw} {comment(f'other traffic to {key} will be dropped by {FIREWALL}')}"))

    used = r.endpoints if r.uses_svc else r.local  # every endpoint with a chain, in order
    seps = [endpoint_chain(sp, ep) for ep in used]
    for chain, picks in ((svc, list(zip(used, seps)) if r.uses_svc else []),
                         (svl, [(ep, sep) for ep, sep in zip(used, seps) if ep.local]
                          if r.uses_svl else [])):
        if not picks:
            continue
        rules = [masq_outside] if chain == internal_chain else []
        to_ep = [note(f"{key} -> {ep}") for ep, _ in picks]
        if sp.affinity_seconds:
            rules.extend(f"-A {chain} {to}-m recent --name {sep} --rcheck "
                         f"--seconds {sp.affinity_seconds} --reap -j {sep}"
                         for to, (_, sep) in zip(to_ep, picks))
        n = len(picks)
        for i, (to, (_, sep)) in enumerate(zip(to_ep, picks)):
            pick = f"-m statistic --mode random --probability {probability(n - i)} " \
                if i < n - 1 else ""
            rules.append(f"-A {chain} {to}{pick}-j {sep}")
        chains[chain] = "\n".join(rules)

    short, dnat = note(key), f"-p {proto}" if large else match
    for ep, sep in zip(used, seps):
        remember = f"-m recent --name {sep} --set " if sp.affinity_seconds else ""
        chains[sep] = (f"-A {sep} {short}-s {ep.ip} -j {MARK_MASQ}\n"
                       f"-A {sep} {short}{remember}{dnat} -j DNAT --to-destination {ep}")
    return ServiceRules(nat_services=nat_services, nat_nodeports=nodeports,
                        filter_services=filter_services, filter_external=filter_external,
                        filter_firewall=filter_firewall, chains=chains)


def _no_endpoints(chain: str, key: str, dst: str, has_endpoints: bool) -> str:
    """kube-proxy's filter rule for traffic nothing can serve: REJECT without endpoints,
    DROP when the only endpoints are on other nodes (a Local policy)."""
    if has_endpoints:
        return f"-A {chain} {comment(f'{key} has no local endpoints')} {dst} -j DROP"
    return f"-A {chain} {comment(f'{key} has no endpoints')} {dst} " \
           "-j REJECT --reject-with icmp-port-unreachable"


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
        ("filter", FIREWALL): gather("filter_firewall"),
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
