"""iptables-save text, parsed and walked for one packet: which rules match, in order.

A small evaluator for the matches and targets the agents write (kube-proxy's shapes,
the overlay's and NetworkPolicy's filter rules, Docker's): addresses, protocol and
ports, interfaces, marks, addrtype LOCAL, conntrack state (a new connection), ipset
membership, statistic (the endpoint pick) and recent (session affinity). A match it
does not know is never taken for true: the rule is reported as not evaluated, so the
trace shows the gap instead of inventing a path.

Random endpoint picks are followed towards the endpoint asked for (the one conntrack
saw, with `--probe`), else the first; every alternative is reported with its absolute
probability, as kube-proxy computes them (1/n, 1/(n-1), ... of what is left).
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

Address = ipaddress.IPv4Address
TERMINAL = frozenset({"ACCEPT", "DROP", "REJECT", "DNAT", "SNAT", "MASQUERADE"})
NON_TERMINAL = frozenset({"MARK", "LOG", "CONNMARK", "NOTRACK", "CT"})
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Rule:
    chain: str
    index: int  # 1-based, as `iptables -L --line-numbers`
    text: str  # the line as saved, without counters
    packets: int
    options: tuple[tuple[str, tuple[str, ...], bool], ...]  # (option, args, negated)
    target: str
    target_args: tuple[str, ...]
    goto: bool

    def option(self, name: str) -> tuple[str, ...] | None:
        for opt, args, _ in self.options:
            if opt == name:
                return args
        return None


@dataclass
class Table:
    name: str
    policies: dict[str, str] = field(default_factory=dict)
    chains: dict[str, list[Rule]] = field(default_factory=dict)


def parse(text: str) -> dict[str, Table]:
    """Every table in iptables-save (-c or not) output."""
    tables: dict[str, Table] = {}
    table: Table | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = tables.setdefault(line[1:], Table(line[1:]))
        elif table is None or not line or line.startswith(("#", "COMMIT")):
            continue
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            table.policies[name] = policy
            table.chains.setdefault(name, [])
        else:
            packets = 0
            if line.startswith("["):
                counters, _, line = line.partition("] ")
                packets = int(counters[1:].split(":")[0])
            rule = _rule(line, packets, table)
            if rule is not None:
                table.chains.setdefault(rule.chain, []).append(rule)
    return tables


def _rule(line: str, packets: int, table: Table) -> Rule | None:
    words = shlex.split(line)
    if len(words) < 2 or words[0] != "-A":
        return None
    chain = words[1]
    options: list[tuple[str, tuple[str, ...], bool]] = []
    target, target_args, goto = "", [], False
    i, negate = 2, False
    while i < len(words):
        word = words[i]
        if word == "!":
            negate = True
            i += 1
            continue
        if word in ("-j", "-g"):
            target, goto = words[i + 1], word == "-g"
            target_args = words[i + 2:]
            break
        args = []
        i += 1
        while i < len(words) and words[i] != "!" and not words[i].startswith("-"):
            args.append(words[i])
            i += 1
        options.append((word, tuple(args), negate))
        negate = False
    index = len(table.chains.get(chain, ())) + 1
    return Rule(chain, index, line, packets, tuple(options), target, tuple(target_args), goto)


@dataclass(frozen=True, slots=True)
class Packet:
    src: Address
    dst: Address
    proto: str = "tcp"
    sport: int = 40000
    dport: int = 0
    in_iface: str = ""
    out_iface: str = ""
    mark: int = 0


@dataclass(frozen=True, slots=True)
class Node:
    """What matches need from the node: its own addresses and its ipsets' entries, each a
    network and whether it is `nomatch` (an exception inside a larger entry)."""

    local: frozenset[Address] = frozenset()
    ipsets: Mapping[str, tuple[tuple[ipaddress.IPv4Network, bool], ...]] = field(
        default_factory=dict)


@dataclass(frozen=True, slots=True)
class Step:
    """A rule the packet matched (or could not be evaluated at, `unknown` set)."""

    table: str
    rule: Rule
    note: str = ""
    unknown: str = ""


@dataclass(frozen=True, slots=True)
class Choice:
    """One alternative of a random pick: its chain, endpoint and absolute probability."""

    chain: str
    endpoint: str
    probability: float
    chosen: bool


@dataclass
class Walk:
    """The outcome of a hook's chains for one packet."""

    packet: Packet
    verdict: str = ""  # ACCEPT/DROP/REJECT or the policy; "" while undecided
    steps: list[Step] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    affinity: list[str] = field(default_factory=list)


def walk(tables: Mapping[str, Table], table: str, hook: str, packet: Packet, node: Node,
         endpoint: str = "") -> Walk:
    """Run `packet` through `table`'s built-in chain `hook` (policy if nothing decides)."""
    result = Walk(packet)
    t = tables.get(table)
    if t is None or hook not in t.chains:
        result.verdict = "ACCEPT"
        return result
    verdict = _chain(t, hook, result, node, endpoint, 0)
    result.verdict = verdict or t.policies.get(hook, "ACCEPT")
    return result


def _chain(t: Table, chain: str, result: Walk, node: Node, endpoint: str, depth: int) -> str:
    """"" to continue after a RETURN or the chain's end; else the terminal verdict."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{t.name}: chains nest deeper than {MAX_DEPTH} at {chain}")
    rules = t.chains.get(chain, [])
    picks = _picks(t, rules)
    chosen = _chosen(picks, endpoint)
    for rule in rules:
        if rule.index in picks and rule.index not in chosen:
            continue  # another endpoint's branch of the random pick
        unknown = ""
        try:
            matched = _matches(rule, result.packet, node)
        except _Unknown as e:
            matched, unknown = False, str(e)
        if unknown:
            result.steps.append(Step(t.name, rule, unknown=unknown))
            continue
        if not matched:
            seconds, name = rule.option("--seconds"), rule.option("--name")
            if rule.option("--rcheck") is not None and seconds and name:
                result.affinity.append(f"ClientIP for {seconds[0]}s (recent list {name[0]})")
            continue
        note = ""
        if rule.index in picks:
            note = f"picked with probability {picks[rule.index][1]:.4f}"
            result.choices += [Choice(rules[i - 1].target, ep, p, i in chosen)
                               for i, (ep, p) in sorted(picks.items())]
        result.steps.append(Step(t.name, rule, note=note))
        target = rule.target
        if target == "MARK":
            result.packet = replace(result.packet, mark=_mark(rule, result.packet.mark))
        elif target == "DNAT":
            result.packet = _dnat(rule, result.packet)
            return "DNAT"
        elif target in TERMINAL:
            return target
        elif target == "RETURN":
            return ""
        elif target in NON_TERMINAL or not target:
            continue
        else:
            verdict = _chain(t, target, result, node, endpoint, depth + 1)
            if verdict or rule.goto:
                return verdict
    return ""


class _Unknown(Exception):
    pass


def _picks(t: Table, rules: list[Rule]) -> dict[int, tuple[str, float]]:
    """For a chain picking an endpoint at random: rule index -> (endpoint, absolute
    probability); {} for any other chain."""
    indexed = [(r.index, _endpoint_of(t, r.target)) for r in rules
               if r.option("--probability") is not None
               or (r.target.startswith("KUBE-SEP-") and r.option("--rcheck") is None)]
    out: dict[int, tuple[str, float]] = {}
    left = 1.0
    for index, ep in indexed:
        args = rules[index - 1].option("--probability")
        p = float(args[0]) if args else 1.0
        out[index] = (ep, left * p)
        left *= 1 - p
    return out


def _chosen(picks: Mapping[int, tuple[str, float]], endpoint: str) -> set[int]:
    """The branch to follow: the one reaching `endpoint`, else the first."""
    wanted = [i for i, (ep, _) in picks.items() if endpoint and ep == endpoint]
    return {wanted[0] if wanted else min(picks)} if picks else set()


def _endpoint_of(t: Table, chain: str) -> str:
    for rule in t.chains.get(chain, []):
        if rule.target == "DNAT" and rule.target_args[:1] == ("--to-destination",):
            return rule.target_args[1]
    return ""


def _matches(rule: Rule, packet: Packet, node: Node) -> bool:
    for opt, args, negated in rule.options:
        ok = _option(opt, args, packet, node)
        if ok is not None and ok == negated:
            return False
    return True


def _option(opt: str, args: tuple[str, ...], packet: Packet, node: Node) -> bool | None:
    """True/False for a test, None for what is not a test (module loads, comments)."""
    if opt in ("-m", "--comment", "--mode", "--probability", "--set", "--name", "--mask",
               "--rsource", "--reap", "--seconds", "--to-destination", "--random",
               "--random-fully"):
        return None
    if opt in ("-s", "--source", "-d", "--destination"):
        address = packet.src if opt in ("-s", "--source") else packet.dst
        return address in ipaddress.ip_network(args[0], strict=False)
    if opt in ("-p", "--protocol"):
        return args[0].lower() in (packet.proto, "all")
    if opt in ("--dport", "--sport", "--dports", "--sports", "--destination-port"):
        port = packet.sport if opt.startswith("--s") else packet.dport
        return any(_in_range(port, part) for part in args[0].split(","))
    if opt in ("-i", "--in-interface", "-o", "--out-interface"):
        iface = packet.in_iface if opt in ("-i", "--in-interface") else packet.out_iface
        name = args[0]
        return iface.startswith(name[:-1]) if name.endswith("+") else iface == name
    if opt == "--mark":
        value, _, mask = args[0].partition("/")
        m = int(mask, 0) if mask else 0xFFFFFFFF
        return packet.mark & m == int(value, 0) & m
    if opt in ("--dst-type", "--src-type"):
        address = packet.dst if opt == "--dst-type" else packet.src
        kind = args[0]
        if kind == "LOCAL":
            return address in node.local
        raise _Unknown(f"addrtype {kind} is not evaluated")
    if opt in ("--ctstate", "--state"):
        return "NEW" in args[0].split(",")
    if opt == "--rcheck":
        return False  # a first packet: no recent entry yet (session affinity not set)
    if opt == "--match-set":
        members = node.ipsets.get(args[0])
        if members is None:
            raise _Unknown(f"ipset {args[0]} is not known on this node")
        return _in_set(packet.src if args[1:2] == ("src",) else packet.dst, members)
    raise _Unknown(f"match {opt} {' '.join(args)} is not evaluated")


def _in_set(address: Address, entries: tuple[tuple[ipaddress.IPv4Network, bool], ...]) -> bool:
    """ipset's hash:net lookup: the most specific entry holding the address decides, and a
    nomatch entry says "not in the set"."""
    best: tuple[ipaddress.IPv4Network, bool] | None = None
    for net, nomatch in entries:
        if address in net and (best is None or net.prefixlen > best[0].prefixlen):
            best = (net, nomatch)
    return best is not None and not best[1]


def _in_range(port: int, spec: str) -> bool:
    low, _, high = spec.partition(":")
    return int(low or 0) <= port <= int(high or low or 65535)


def _mark(rule: Rule, mark: int) -> int:
    args = dict(zip(rule.target_args[::2], rule.target_args[1::2], strict=False))
    if "--or-mark" in args:
        return mark | int(args["--or-mark"], 0)
    if "--xor-mark" in args:
        return mark ^ int(args["--xor-mark"], 0)
    if "--and-mark" in args:
        return mark & int(args["--and-mark"], 0)
    for key in ("--set-xmark", "--set-mark"):
        if key in args:
            value, _, mask = args[key].partition("/")
            m = int(mask, 0) if mask else 0xFFFFFFFF
            return (mark & ~m) ^ int(value, 0) if key == "--set-xmark" else \
                (mark & ~m) | int(value, 0)
    return mark


def _dnat(rule: Rule, packet: Packet) -> Packet:
    args = dict(zip(rule.target_args[::2], rule.target_args[1::2], strict=False))
    host, _, port = args.get("--to-destination", "").rpartition(":")
    if not host:
        host, port = args.get("--to-destination", str(packet.dst)), ""
    return replace(packet, dst=ipaddress.IPv4Address(host),
                   dport=int(port) if port else packet.dport)
