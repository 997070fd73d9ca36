"""A packet's path from a pod (or a node's own stack) to an address, hop by hop, from the
nodes' real state (cni_plugins/dataplane.py snapshots): the source veth and bridge, the
nat rules that pick and DNAT an endpoint, the route, and for another node's pod the
overlay's neighbour and FDB entries and the VXLAN tunnel to that node's underlay address,
then the remote node's rules, bridge and veth. Filter verdicts (the proxy's REJECTs,
NetworkPolicy) are where the kernel takes them: FORWARD on each node, egress policies on
the source's, ingress on the destination's, each named with the policy and rule that
decided (trace/netpol.py).

Pure: the caller fetches the snapshots and objects; `--probe`'s counter deltas and
conntrack entry only annotate what is computed here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from minikube_py.api.types import Object
from minikube_py.trace import netpol
from minikube_py.trace.rules import Node, Packet, Step, Table, Walk, parse, walk

VXLAN_DEVICE = "mkp.vxlan"
VXLAN_PORT = 8472
Address = ipaddress.IPv4Address
NO_ANSWER = "the SYN got no answer"
CounterKey = tuple[str, str, str, str, int, str]  # node, mode, table, chain, index, text


@dataclass
class NodeState:
    """One node's snapshot, parsed once."""

    name: str
    raw: Mapping[str, Any]
    tables: dict[str, dict[str, Table]] = field(default_factory=dict)  # mode -> tables

    def __post_init__(self) -> None:
        self.tables = {mode: parse(text) for mode, text in
                       (self.raw.get("iptables") or {}).items()}
        self.links = {int(link["index"]): link for link in self.raw.get("links") or []}
        local = frozenset(Address(a["address"]) for a in self.raw.get("addresses") or [])
        sets = {name: tuple(entry for m in members if (entry := _set_entry(m)))
                for name, members in (self.raw.get("ipsets") or {}).items()}
        self.node = Node(local=local, ipsets=sets)

    def route(self, dst: Address) -> Mapping[str, Any] | None:
        """The main table's longest-prefix match."""
        best: Mapping[str, Any] | None = None
        for route in self.raw.get("routes") or []:
            net = ipaddress.IPv4Network(route["dst"], strict=False)
            if dst in net and (best is None or net.prefixlen >
                               ipaddress.IPv4Network(best["dst"]).prefixlen):
                best = route
        return best

    def neighbour(self, dev: str, ip: str) -> str:
        return next((n["mac"] for n in self.raw.get("neighbours") or []
                     if n["dev"] == dev and n["ip"] == ip and n["mac"]), "")

    def fdb(self, dev: str, mac: str) -> str:
        return next((f["dst"] for f in self.raw.get("fdb") or []
                     if f["dev"] == dev and f["mac"] == mac), "")

    def pod(self, key: str) -> Mapping[str, Any]:
        return (self.raw.get("pods") or {}).get(key) or {}

    def counters(self) -> dict[CounterKey, int]:
        return {(self.name, mode, t.name, chain, r.index, r.text): r.packets
                for mode, tables in self.tables.items() for t in tables.values()
                for chain, rules in t.chains.items() for r in rules}


def _set_entry(entry: str) -> tuple[ipaddress.IPv4Network, bool] | None:
    """An `ipset save` entry ("10.0.0.0/8", "10.244.1.3,tcp:80", "10.96.0.0/12 nomatch") as
    (its address part, nomatch); None for what is not IPv4."""
    words = entry.split()
    try:
        net = ipaddress.IPv4Network(words[0].split(",")[0], strict=False) if words else None
    except ValueError:
        return None
    return None if net is None else (net, "nomatch" in words[1:])


@dataclass
class Hop:
    node: str
    kind: str
    text: str
    detail: dict[str, Any] = field(default_factory=dict)
    counter: int | None = None  # packets this rule's counter moved by during --probe


@dataclass
class Trace:
    source: str
    destination: str
    hops: list[Hop] = field(default_factory=list)
    outcome: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination,
                "outcome": self.outcome,
                "hops": [{"node": h.node, "kind": h.kind, "text": h.text, **h.detail,
                          **({"counterDelta": h.counter} if h.counter is not None else {})}
                         for h in self.hops]}


@dataclass(frozen=True)
class Source:
    """A pod (namespace/name, its IP and node) or a node's own stack (pod empty)."""

    node: str
    ip: Address
    pod: str = ""


class Tracer:
    def __init__(self, states: Mapping[str, NodeState], nodes: list[Object],
                 pods: list[Object], deltas: Mapping[CounterKey, int] | None = None) -> None:
        self.states, self.deltas = states, deltas
        self.node_by_ip = {a["address"]: n["metadata"]["name"] for n in nodes
                           for a in (n.get("status") or {}).get("addresses") or []
                           if a.get("type") == "InternalIP"}
        self.pod_by_ip = {p["status"]["podIP"]: p for p in pods
                          if (p.get("status") or {}).get("podIP")
                          and not (p.get("spec") or {}).get("hostNetwork")
                          and p["status"].get("phase") in ("Running", "Pending")}

    def trace(self, src: Source, dst: Address, port: int, proto: str = "tcp",
              endpoint: str = "") -> Trace:
        label = f"{dst}:{port}/{proto}"
        result = Trace(src.pod or f"node/{src.node}", label)
        state = self.states[src.node]
        packet = Packet(src=src.ip, dst=dst, proto=proto, dport=port)
        if src.pod:
            bridge = self._source_hops(result, state, src)
            packet = Packet(src=src.ip, dst=dst, proto=proto, dport=port, in_iface=bridge)
            first, verdict_hook = "PREROUTING", "FORWARD"
        else:
            result.hops.append(Hop(src.node, "host", f"node {src.node}'s own network stack "
                                   f"({src.ip})"))
            first, verdict_hook = "OUTPUT", "OUTPUT"
        packet = self._nat(result, state, first, packet, endpoint)
        if result.outcome:
            return result
        self._deliver(result, state, packet, verdict_hook)
        return result

    # -- the source side ---------------------------------------------------------------

    def _source_hops(self, result: Trace, state: NodeState, src: Source) -> str:
        info = state.pod(src.pod)
        result.hops.append(Hop(state.name, "pod", f"pod {src.pod} eth0 {src.ip}"
                               + (f" ({info['mac']})" if info.get("mac") else ""),
                               {"pod": src.pod, "ip": str(src.ip)}))
        link = state.links.get(int(info.get("peer_index") or 0))
        if link is None:
            result.hops.append(Hop(state.name, "veth", "host side of the pod's veth not found"
                                   + (f": {info['error']}" if info.get("error") else "")))
            return ""
        result.hops.append(Hop(state.name, "veth", f"{link['name']} on bridge {link['master']}",
                               {"veth": link["name"], "bridge": link["master"]}))
        return str(link["master"])

    # -- rules -----------------------------------------------------------------------

    def _walk(self, result: Trace, state: NodeState, table: str, hook: str, packet: Packet,
              endpoint: str = "") -> tuple[Packet, str]:
        """Every backend's rules for this hook, in turn; the first final verdict stops."""
        for mode, tables in state.tables.items():
            w = walk(tables, table, hook, packet, state.node, endpoint)
            self._steps(result, state.name, mode, w)
            policies: list[netpol.Verdict] = []
            if table == "filter":
                policies = self._policy_hops(result, state.name, w)
                result.hops.append(Hop(state.name, "verdict", f"[{mode} filter] {hook}: "
                                       f"{w.verdict}", {"backend": mode, "hook": hook,
                                                        "verdict": w.verdict}))
            packet = w.packet
            if w.verdict in ("DROP", "REJECT"):
                why = next((f": {v.text(self._who(w.packet, v))}" for v in policies
                            if v.verdict == "dropped"), "")
                return packet, f"{w.verdict} in {mode} {table} {hook}{why}"
        return packet, ""

    def _policy_hops(self, result: Trace, node: str, w: Walk) -> list[netpol.Verdict]:
        """NetworkPolicy's verdicts on this walk, each as a hop naming the policies; "not
        isolated" only where the pod it is about runs (elsewhere no rule could select it)."""
        found = netpol.verdicts(w.steps)
        for v in found:
            pod = self.pod_by_ip.get(str(w.packet.src if v.direction == "egress"
                                         else w.packet.dst))
            if v.verdict == "not isolated" and (pod is None or pod["spec"].get("nodeName")
                                                != node):
                continue
            result.hops.append(Hop(node, "networkpolicy", v.text(self._who(w.packet, v)), {
                "direction": v.direction, "verdict": v.verdict, "policies": list(v.policies),
                "allowedBy": list(v.allowed_by)}))
        return found

    def _who(self, packet: Packet, verdict: netpol.Verdict) -> str:
        """The pod a verdict is about: the source for egress, the destination for ingress."""
        address = str(packet.src if verdict.direction == "egress" else packet.dst)
        pod = self.pod_by_ip.get(address)
        return (f"pod {pod['metadata']['namespace']}/{pod['metadata']['name']} ({address})"
                if pod else address)

    def _steps(self, result: Trace, node: str, mode: str, w: Walk) -> None:
        for step in w.steps:
            result.hops.append(self._rule_hop(node, mode, step))
        if w.choices:
            result.hops.append(Hop(node, "endpoints", "endpoints: " + ", ".join(
                f"{c.endpoint or c.chain} p={c.probability:.4f}{' (chosen)' if c.chosen else ''}"
                for c in w.choices), {"endpoints": [
                    {"chain": c.chain, "endpoint": c.endpoint, "probability": c.probability,
                     "chosen": c.chosen} for c in w.choices]}))
        for note in dict.fromkeys(w.affinity):
            result.hops.append(Hop(node, "affinity", f"session affinity {note}: a first "
                                   "packet has no entry yet"))

    def _rule_hop(self, node: str, mode: str, step: Step) -> Hop:
        rule = step.rule
        text = f"[{mode} {step.table}] {rule.chain} #{rule.index}: {rule.text}"
        if step.note:
            text += f"  <- {step.note}"
        if step.unknown:
            text += f"  (not evaluated: {step.unknown})"
        counter = None
        if self.deltas is not None:
            counter = self.deltas.get((node, mode, step.table, rule.chain, rule.index,
                                       rule.text), 0)
        return Hop(node, "rule", text, {"table": step.table, "chain": rule.chain,
                                        "index": rule.index, "backend": mode,
                                        "evaluated": not step.unknown}, counter)

    def _nat(self, result: Trace, state: NodeState, hook: str, packet: Packet,
             endpoint: str) -> Packet:
        before = packet.dst, packet.dport
        packet, stopped = self._walk(result, state, "nat", hook, packet, endpoint)
        if stopped:
            result.outcome = stopped
        elif (packet.dst, packet.dport) != before:
            result.hops.append(Hop(state.name, "dnat", f"DNAT {before[0]}:{before[1]} -> "
                                   f"{packet.dst}:{packet.dport}",
                                   {"endpoint": f"{packet.dst}:{packet.dport}"}))
        return packet

    # -- routing and delivery ----------------------------------------------------------

    def _deliver(self, result: Trace, state: NodeState, packet: Packet, hook: str) -> None:
        if packet.dst in state.node.local:
            result.hops.append(Hop(state.name, "route", f"local address {packet.dst}"))
            _, stopped = self._walk(result, state, "filter", "INPUT", packet)
            result.outcome = stopped or f"delivered to node {state.name}'s own stack"
            return
        route = state.route(packet.dst)
        if route is None:
            result.hops.append(Hop(state.name, "route", f"no route to {packet.dst}"))
            result.outcome = "unreachable: no route"
            return
        via = f" via {route['gateway']}" if route.get("gateway") else ""
        result.hops.append(Hop(state.name, "route", f"route {route['dst']}{via} dev "
                               f"{route['dev']}" + (" onlink" if route.get("onlink") else ""),
                               {"route": dict(route)}))
        out = replace(packet, out_iface=route["dev"])
        out, stopped = self._walk(result, state, "filter", hook, out)
        if stopped:
            result.outcome = stopped
            return
        out, _ = self._walk(result, state, "nat", "POSTROUTING", out)
        if route["dev"] == VXLAN_DEVICE:
            self._tunnel(result, state, out, str(route.get("gateway") or ""))
        elif self._on_bridge(state, route["dev"]):
            self._arrive(result, state, out)
        else:
            result.outcome = f"leaves node {state.name} by {route['dev']}"

    def _on_bridge(self, state: NodeState, dev: str) -> bool:
        return any(link["name"] == dev and link["kind"] == "bridge"
                   for link in state.links.values())

    def _tunnel(self, result: Trace, state: NodeState, packet: Packet, gateway: str) -> None:
        mac = state.neighbour(VXLAN_DEVICE, gateway)
        result.hops.append(Hop(state.name, "neighbour", f"neighbour {gateway} lladdr "
                               f"{mac or '(missing)'} dev {VXLAN_DEVICE}",
                               {"ip": gateway, "mac": mac}))
        if not mac:
            result.outcome = f"dropped: no neighbour entry for {gateway} on {VXLAN_DEVICE}"
            return
        underlay = state.fdb(VXLAN_DEVICE, mac)
        result.hops.append(Hop(state.name, "fdb", f"fdb {mac} dst {underlay or '(missing)'} "
                               f"dev {VXLAN_DEVICE}", {"mac": mac, "dst": underlay}))
        remote = self.node_by_ip.get(underlay, "")
        if not underlay or not remote:
            result.outcome = (f"dropped: no FDB entry for {mac}" if not underlay
                              else f"sent to {underlay}, which is no node's InternalIP")
            return
        result.hops.append(Hop(state.name, "vxlan", f"VXLAN VNI 1 in UDP to {underlay}:"
                               f"{VXLAN_PORT} (node {remote})",
                               {"underlay": underlay, "port": VXLAN_PORT, "to": remote}))
        there = self.states.get(remote)
        if there is None:
            result.outcome = f"arrives at node {remote} (its state was not read)"
            return
        arriving = replace(packet, in_iface=VXLAN_DEVICE, out_iface="", mark=0)
        arriving = self._nat(result, there, "PREROUTING", arriving, "")
        if not result.outcome:
            self._deliver(result, there, arriving, "FORWARD")

    def _arrive(self, result: Trace, state: NodeState, packet: Packet) -> None:
        pod = self.pod_by_ip.get(str(packet.dst))
        if pod is None or (pod.get("spec") or {}).get("nodeName") != state.name:
            result.outcome = f"no pod with address {packet.dst} on node {state.name}"
            return
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        info = state.pod(key)
        link = state.links.get(int(info.get("peer_index") or 0))
        if link is not None:
            result.hops.append(Hop(state.name, "veth", f"bridge {link['master']} -> "
                                   f"{link['name']}", {"veth": link["name"],
                                                       "bridge": link["master"]}))
        result.hops.append(Hop(state.name, "pod", f"pod {key} eth0 {packet.dst}:{packet.dport}",
                               {"pod": key, "ip": str(packet.dst)}))
        result.outcome = f"delivered to pod {key} on node {state.name}"


def probe_hops(node: str, pod: str, answer: Mapping[str, Any]) -> list[Hop]:
    """`--probe`'s connection and the conntrack entries it left, as hops. An entry still
    [UNREPLIED] means nothing came back (no SYN-ACK, no RST): the SYN went somewhere that
    does not answer, which a socket's "timed out" or "No route to host" alone leaves open.
    Without an entry (conntrack missing, or a filter verdict before confirmation) the
    socket's own outcome decides."""
    entries = [str(line) for line in answer.get("conntrack") or []]
    outcome = str(answer.get("outcome"))
    answered = (not any("[UNREPLIED]" in line for line in entries) if entries
                else outcome in ("connected", "refused"))
    text = f"probe from {pod} source port {answer.get('sport')}: {outcome}"
    if not answered:
        text += f"; {NO_ANSWER}" + (" (conntrack [UNREPLIED])" if entries else "")
    return [Hop(node, "probe", text, {"outcome": outcome, "sport": answer.get("sport"),
                                      "answered": answered}),
            *(Hop(node, "conntrack", line, {"entry": line}) for line in entries)]


def counter_deltas(before: Mapping[str, NodeState],
                   after: Mapping[str, NodeState]) -> dict[CounterKey, int]:
    """Per rule of each node, how many packets its counter moved by between two snapshots."""
    deltas: dict[CounterKey, int] = {}
    for name, state in after.items():
        old = before[name].counters() if name in before else {}
        for key, packets in state.counters().items():
            moved = packets - old.get(key, 0)
            if moved > 0:
                deltas[key] = deltas.get(key, 0) + moved
    return deltas
