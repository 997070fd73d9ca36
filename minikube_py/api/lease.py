"""Leases (coordination.k8s.io/v1): what leader election and node heartbeats write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import dig
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

# kube-vip's control-plane Lease: the HA VIP's (agent/vip.py), and all its RBAC role grants.
VIP_LEASE = "plndr-cp-lock"


class LeaseStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Holder", description="The holder of the lease"),
        table.AGE,
    )

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is None:
            return []
        if not isinstance(spec, Mapping):
            return [field.invalid("spec", spec, "must be an object")]
        causes = field.at_least("spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"), 1)
        causes += field.at_least("spec.leaseTransitions", spec.get("leaseTransitions"))
        holder = spec.get("holderIdentity")
        if holder is not None and not isinstance(holder, str):
            causes.append(field.invalid("spec.holderIdentity", holder, "must be a string"))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), dig(obj, "spec", "holderIdentity", default=""),
                table.age(obj, now)]


# Which node announces a LoadBalancer address (agent/announcer.py) is a Lease per address;
# nodes may write these besides their own heartbeat (the node authorizer).
LB_LEASE_NAMESPACE = "kube-system"
LB_LEASE_PREFIX = "lb-announce-"


def lb_lease_name(ip: str) -> str:
    return LB_LEASE_PREFIX + ip.replace(".", "-").replace(":", "-")


def is_lb_lease(namespace: str | None, name: str | None) -> bool:
    return namespace == LB_LEASE_NAMESPACE and bool(name) and str(name).startswith(
        LB_LEASE_PREFIX)
