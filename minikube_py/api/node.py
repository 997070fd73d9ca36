"""Nodes: validation of the few fields users and agents write, and `kubectl get nodes`."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, as_list, dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

_ROLE_PREFIX = "node-role.kubernetes.io/"
# The overlay's per-node facts (agent/overlay.py writes them; the web view reads them).
VTEP_MAC_ANNOTATION = "minikube-py.io/vtep-mac"
PUBLIC_IP_ANNOTATION = "minikube-py.io/public-ip"


class NodeStrategy(Strategy):
    has_spec = False
    selectable_fields = ("spec.unschedulable",)
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Status", description="The status of the node"),
        table.Column("Roles", description="The roles of the node"),
        table.AGE,
        table.Column("Version", description="Kubelet Version reported by the node."),
        table.Column("Internal-IP", priority=1, description="List of addresses reachable to "
                                                            "the node."),
        table.Column("External-IP", priority=1, description="List of addresses reachable to "
                                                            "the node."),
        table.Column("OS-Image", priority=1, description="OS Image reported by the node from "
                                                         "/etc/os-release."),
        table.Column("Kernel-Version", priority=1, description="Kernel Version reported by the "
                                                               "node from 'uname -r'."),
        table.Column("Container-Runtime", priority=1, description="Container runtime version "
                                                                  "reported by the node."),
    )

    def validate(self, obj: Object) -> list[Cause]:
        spec = as_dict(obj.get("spec"))
        if not isinstance(spec, Mapping):
            return [field.invalid("spec", spec, "must be an object")]
        causes: list[Cause] = []
        cidrs = as_list(spec.get("podCIDRs")) + ([spec["podCIDR"]] if spec.get("podCIDR")
                                                  else [])
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr)
            except (ValueError, TypeError):
                causes.append(field.invalid("spec.podCIDRs", cidr,
                                            "must be a valid CIDR"))
        for here, taint in field.objects(spec.get("taints"), "spec.taints", causes):
            if not taint.get("key"):
                causes.append(field.required(f"{here}.key"))
            effect = taint.get("effect")
            if effect not in podspec.TOLERATION_EFFECTS:
                causes.append(field.not_supported(f"{here}.effect", effect,
                                                  podspec.TOLERATION_EFFECTS))
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        old_cidr = dig(old, "spec", "podCIDR")
        if old_cidr and dig(new, "spec", "podCIDR") != old_cidr:
            return [field.forbidden("spec.podCIDR", "node updates may not change podCIDR "
                                                    "except from \"\" to valid")]
        return []

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"spec.unschedulable": str_field(bool(dig(obj, "spec", "unschedulable")))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        info = dig(obj, "status", "nodeInfo", default={})
        return [table.name(obj), node_status(obj), node_roles(obj), table.age(obj, now),
                info.get("kubeletVersion", ""), _address(obj, "InternalIP"),
                _address(obj, "ExternalIP"), info.get("osImage") or "<unknown>",
                info.get("kernelVersion") or "<unknown>",
                info.get("containerRuntimeVersion") or "<unknown>"]


def node_status(node: Mapping[str, Any]) -> str:
    """'Ready', 'NotReady', 'Unknown', plus ',SchedulingDisabled' when cordoned."""
    statuses = []
    for condition in dig(node, "status", "conditions", default=[]):
        if condition.get("type") == "Ready":
            statuses.append("Ready" if condition.get("status") == "True" else "NotReady")
    if not statuses:
        statuses.append("Unknown")
    if dig(node, "spec", "unschedulable"):
        statuses.append("SchedulingDisabled")
    return ",".join(statuses)


def node_roles(node: Mapping[str, Any]) -> str:
    roles = set()
    for key, value in (dig(node, "metadata", "labels", default={})).items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX):]:
            roles.add(key[len(_ROLE_PREFIX):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _address(node: Mapping[str, Any], kind: str) -> str:
    for address in dig(node, "status", "addresses", default=[]):
        if address.get("type") == kind:
            return str(address.get("address", "<none>"))
    return "<none>"
