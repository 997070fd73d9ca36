"""What NetworkPolicies mean on this node, as ipsets and the rules that match them.

Pure (no I/O), kube-router's shape. Only policies selecting a pod on this node matter
here: ingress is enforced on the destination's node, egress on the source's. Per such
policy, one set of its local pods, and per rule one set per kind of peer (pods matched by
its selectors; each ipBlock, `except` as nomatch entries) and one per resolved named
port; the rules match sets, so their number grows with policies x rules x ports, never
with pods. A pod selected by any policy of a direction is isolated in it: a NEW
connection it is not allowed by some rule of a selecting policy is dropped; replies
(ESTABLISHED, RELATED) always pass.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cni_plugins.ipset_runner import IpSet
from minikube_py.api.meta import join_key
from minikube_py.api.networkpolicy import policy_types
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object

SET_PREFIX = "MKP-NP-"
CHAIN_PREFIX = "MKP-NP"
INGRESS_ISOLATED = "MKP-NP-INGRESS-ISO"
EGRESS_ISOLATED = "MKP-NP-EGRESS-ISO"


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    node: str
    ports: tuple[tuple[str, str, int], ...] = ()  # (name, protocol, number)

    def port_numbers(self, name: str, protocol: str) -> list[int]:
        return [n for p_name, p_proto, n in self.ports if p_name == name and p_proto == protocol]


def pod_of(obj: Object) -> Pod | None:
    """A running pod with an address of its own (host-network pods are the node's)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ip = status.get("podIP")
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    meta = obj["metadata"]
    ports = tuple((str(p["name"]), str(p.get("protocol") or "TCP"), int(p["containerPort"]))
                  for c in spec.get("containers") or [] for p in c.get("ports") or []
                  if p.get("name") and p.get("containerPort"))
    return Pod(meta.get("namespace", "default"), meta["name"], str(ip),
               dict(meta.get("labels") or {}), str(spec.get("nodeName") or ""), ports)


def short_hash(*parts: str) -> str:
    """10 base32 characters of sha256: names stay inside ipset's 31 characters."""
    return base64.b32encode(hashlib.sha256("/".join(parts).encode()).digest()[:10]).decode()[:10]


def comment(text: str) -> str:
    """A rule's comment match naming what it enforces ("policy NS/NAME DIRECTION[ rule N]",
    read back by `trace`); names are DNS labels, so they need no escaping, but the kernel
    keeps at most 255 characters."""
    return f'-m comment --comment "{("policy " + text)[:255]}" '


@dataclass
class Plan:
    """Sets to hold and filter rules to write (chain -> its rule specs, in order)."""

    sets: dict[str, IpSet] = field(default_factory=dict)
    # Per selecting policy, in order: (direction, its local pods' set, its chain, "ns/name").
    dispatch: list[tuple[str, str, str, str]] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.dispatch


def _selector(selector: object) -> LabelSelector:
    """A parsed selector (parsed once per policy, matched against every pod); a malformed
    one (validation keeps them out) selects nothing."""
    try:
        return LabelSelector.from_dict(selector if isinstance(selector, Mapping) else None)
    except ValueError:
        return LabelSelector.nothing()


class Planner:
    """Builds the Plan for one node from the cluster's policies, pods and namespaces."""

    def __init__(self, pods: Iterable[Pod], namespaces: Mapping[str, Mapping[str, str]],
                 node: str) -> None:
        self.pods = list(pods)
        self.namespaces = namespaces
        self.node = node

    def peer_pods(self, policy_ns: str, peer: Mapping[str, object]) -> list[Pod]:
        """Pods a selector peer names: podSelector in the policy's namespace, or in the
        namespaces namespaceSelector picks (every pod there without a podSelector)."""
        pod_sel = None if peer.get("podSelector") is None else _selector(peer["podSelector"])
        if peer.get("namespaceSelector") is None:
            namespaces = {policy_ns}
        else:
            ns_sel = _selector(peer["namespaceSelector"])
            namespaces = {ns for ns, labels in self.namespaces.items() if ns_sel.matches(labels)}
        return [pod for pod in self.pods if pod.namespace in namespaces
                and (pod_sel is None or pod_sel.matches(pod.labels))]

    def plan(self, policies: Iterable[Object]) -> Plan:
        plan = Plan()
        isolated: dict[str, set[str]] = {"ingress": set(), "egress": set()}
        ordered = sorted(policies, key=lambda p: join_key(p["metadata"].get("namespace"),
                                                           p["metadata"]["name"]))
        for policy in ordered:
            meta, spec = policy["metadata"], policy.get("spec") or {}
            ns = meta.get("namespace", "default")
            selector = _selector(spec.get("podSelector"))
            selected = [p for p in self.pods if p.namespace == ns and p.node == self.node
                        and selector.matches(p.labels)]
            if not selected:
                continue
            h = short_hash(ns, meta["name"])
            local = f"{SET_PREFIX}{h}-S"
            plan.sets[local] = IpSet("hash:ip", tuple(sorted(p.ip for p in selected)))
            for direction in ("ingress", "egress"):
                if direction.capitalize() not in policy_types(spec):
                    continue
                isolated[direction].update(p.ip for p in selected)
                chain = f"{CHAIN_PREFIX}{direction[0].upper()}-{h}"
                policy_key = join_key(ns, meta["name"])
                plan.dispatch.append((direction, local, chain, policy_key))
                plan.chains[chain] = self._rules(plan, h, direction, ns, selected,
                                                 spec.get(direction) or [], policy_key)
        if plan.dispatch:  # the drop rules' sets; with nothing to enforce, nothing at all
            for direction, name in (("ingress", INGRESS_ISOLATED), ("egress", EGRESS_ISOLATED)):
                plan.sets[name] = IpSet("hash:ip", tuple(sorted(isolated[direction])))
        return plan

    def _rules(self, plan: Plan, h: str, direction: str, ns: str, selected: list[Pod],
               rules: list[Mapping[str, object]], policy_key: str) -> list[str]:
        """One chain's rule specs: each (peer, port) pair a rule that sets the allow mark,
        commented with the policy and rule it comes from (what `trace` reports)."""
        d = direction[0].upper()
        peer_dir = "src" if direction == "ingress" else "dst"
        out = []
        for i, rule in enumerate(rules):
            peers = rule.get("from" if direction == "ingress" else "to") or []
            # Named ports resolve on the destination: for ingress the policy's own pods, for
            # egress the peer pods (any pod when the rule names no peer).
            targets: list[Pod] = selected if direction == "ingress" else []
            peer_matches: list[str] = []
            if not isinstance(peers, list) or not peers:
                peer_matches = [""]
                targets = selected if direction == "ingress" else self.pods
            else:
                pod_peers = [p for peer in peers if isinstance(peer, Mapping)
                             and "ipBlock" not in peer for p in self.peer_pods(ns, peer)]
                if any(isinstance(peer, Mapping) and "ipBlock" not in peer for peer in peers):
                    name = f"{SET_PREFIX}{h}-{d}{i}P"
                    plan.sets[name] = IpSet("hash:ip", tuple(sorted({p.ip for p in pod_peers})))
                    peer_matches.append(f"-m set --match-set {name} {peer_dir} ")
                    if direction == "egress":
                        targets = pod_peers
                for j, peer in enumerate(peers):
                    block = peer.get("ipBlock") if isinstance(peer, Mapping) else None
                    if isinstance(block, Mapping):
                        name = f"{SET_PREFIX}{h}-{d}{i}B{j}"
                        excepts = block.get("except")
                        plan.sets[name] = IpSet("hash:net", (str(block.get("cidr")),), tuple(
                            str(e) for e in (excepts if isinstance(excepts, list) else [])))
                        peer_matches.append(f"-m set --match-set {name} {peer_dir} ")
            port_matches = self._ports(plan, f"{SET_PREFIX}{h}-{d}{i}N", rule.get("ports"),
                                       targets)
            note = comment(f"{policy_key} {direction} rule {i}")
            out += [f"{peer}{port}{note}" for peer in peer_matches for port in port_matches]
        return out

    @staticmethod
    def _ports(plan: Plan, prefix: str, ports: object, targets: list[Pod]) -> list[str]:
        """Port matches of a rule: "" for any port; a named port becomes one match per
        number it has among `targets`, each with the set of the targets having it."""
        if not isinstance(ports, list) or not ports:
            return [""]
        out = []
        for k, port in enumerate(p for p in ports if isinstance(p, Mapping)):
            proto = str(port.get("protocol") or "TCP")
            lower = proto.lower()
            number, end = port.get("port"), port.get("endPort")
            if number is None:
                out.append(f"-p {lower} ")
            elif isinstance(number, int):
                span = f"{number}:{end}" if isinstance(end, int) else str(number)
                out.append(f"-p {lower} -m {lower} --dport {span} ")
            else:
                by_number: dict[int, set[str]] = {}
                for pod in targets:
                    for n in pod.port_numbers(str(number), proto):
                        by_number.setdefault(n, set()).add(pod.ip)
                for n, ips in sorted(by_number.items()):
                    name = f"{prefix}{k}-{n}"
                    plan.sets[name] = IpSet("hash:ip", tuple(sorted(ips)))
                    out.append(f"-m set --match-set {name} dst "
                               f"-p {lower} -m {lower} --dport {n} ")
        return out
