"""NetworkPolicies (networking.k8s.io/v1): defaults, Kubernetes' validation, `kubectl get
netpol`. Enforcement is the agent's (agent/netpol/)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object
from minikube_py.api.workload import selector_text

POLICY_TYPES = ("Ingress", "Egress")
DIRECTIONS = (("ingress", "from"), ("egress", "to"))


def policy_types(spec: Mapping[str, Any]) -> list[str]:
    """spec.policyTypes, or Kubernetes' default: Ingress, plus Egress when egress rules
    are given."""
    given = spec.get("policyTypes")
    if isinstance(given, list) and given:
        return [str(t) for t in given]
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


class NetworkPolicyStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Pod-Selector", description="podSelector selects the pods to which "
                                                 "this NetworkPolicy object applies."),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if not spec.get("policyTypes"):
            spec["policyTypes"] = policy_types(spec)
        for direction, _ in DIRECTIONS:
            for rule in dicts(spec.get(direction)):
                for port in dicts(rule.get("ports")):
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        causes = _selector_causes(spec.get("podSelector"), "spec.podSelector", required=True)
        for direction, peers in DIRECTIONS:
            for here, rule in field.objects(spec.get(direction), f"spec.{direction}", causes):
                for at, port in field.objects(rule.get("ports"), f"{here}.ports", causes):
                    causes += _port_causes(port, at)
                for at, peer in field.objects(rule.get(peers), f"{here}.{peers}", causes):
                    causes += _peer_causes(peer, at)
        types = spec.get("policyTypes")
        if types is not None:
            if not isinstance(types, list) or len(types) > len(POLICY_TYPES):
                causes.append(field.invalid("spec.policyTypes", types,
                                            "may not specify more than two policyTypes"))
            else:
                causes += [field.not_supported(f"spec.policyTypes[{i}]", t, POLICY_TYPES)
                           for i, t in enumerate(types) if t not in POLICY_TYPES]
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), selector_text(as_dict(obj.get("spec")).get("podSelector")),
                table.age(obj, now)]


def _selector_causes(selector: Any, path: str, *, required: bool = False) -> list[Cause]:
    if selector is None:
        return [field.required(path)] if required else []
    try:
        LabelSelector.from_dict(selector)
    except ValueError as e:
        return [field.invalid(path, selector, str(e))]
    return meta.validate_labels(as_dict(selector).get("matchLabels"), f"{path}.matchLabels")


def _port_causes(port: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    protocol = port.get("protocol", "TCP")
    if protocol not in podspec.PROTOCOLS:
        causes.append(field.not_supported(f"{path}.protocol", protocol, podspec.PROTOCOLS))
    number, end = port.get("port"), port.get("endPort")
    if isinstance(number, str):
        causes += [field.invalid(f"{path}.port", number, p)
                   for p in podspec.port_name_errors(number)]
    elif number is not None:
        causes += podspec.port_number_causes(number, f"{path}.port")
    if end is None:
        return causes
    if number is None:
        causes.append(field.required(f"{path}.port",
                                     "must be specified when `endPort` is specified"))
    elif isinstance(number, str):
        causes.append(field.invalid(f"{path}.endPort", end,
                                    "may not be specified when `port` is non-numeric"))
    elif not isinstance(end, int) or isinstance(end, bool) or not isinstance(number, int):
        causes.append(field.invalid(f"{path}.endPort", end, "must be an integer"))
    elif end < number:
        causes.append(field.invalid(f"{path}.endPort", end,
                                    "must be greater than or equal to `port`"))
    else:
        causes += podspec.port_number_causes(end, f"{path}.endPort")
    return causes


def _peer_causes(peer: Mapping[str, Any], path: str) -> list[Cause]:
    causes = _selector_causes(peer.get("podSelector"), f"{path}.podSelector")
    causes += _selector_causes(peer.get("namespaceSelector"), f"{path}.namespaceSelector")
    selectors = peer.get("podSelector") is not None or peer.get("namespaceSelector") is not None
    block = peer.get("ipBlock")
    if block is None:
        if not selectors:
            causes.append(field.required(path, "must specify a peer"))
        return causes
    if selectors:
        causes.append(field.forbidden(path, "may not specify both ipBlock and another peer"))
    if not isinstance(block, Mapping):
        return [*causes, field.invalid(f"{path}.ipBlock", block, "must be an object")]
    cidr = _network(block.get("cidr"))
    if block.get("cidr") is None:
        causes.append(field.required(f"{path}.ipBlock.cidr"))
    elif cidr is None:
        causes.append(field.invalid(f"{path}.ipBlock.cidr", block.get("cidr"),
                                    "must be a valid CIDR (e.g. 10.0.0.0/16)"))
    excepts = block.get("except")
    for i, text in enumerate(excepts if isinstance(excepts, list) else []):
        here, net = f"{path}.ipBlock.except[{i}]", _network(text)
        if net is None:
            causes.append(field.invalid(here, text, "must be a valid CIDR (e.g. 10.0.0.0/16)"))
        elif cidr is not None and not _strict_subset(net, cidr):
            causes.append(field.invalid(here, text, "must be a strict subset of `cidr`"))
    if excepts is not None and not isinstance(excepts, list):
        causes.append(field.invalid(f"{path}.ipBlock.except", excepts, "must be a list"))
    return causes


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _strict_subset(net: Network, cidr: Network) -> bool:
    if net.version != cidr.version or net == cidr:
        return False
    return int(cidr.network_address) <= int(net.network_address) \
        and int(net.broadcast_address) <= int(cidr.broadcast_address)


def _network(text: Any) -> Network | None:
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
