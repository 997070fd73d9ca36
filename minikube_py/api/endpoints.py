"""Endpoints: the addresses behind a Service, written by the endpoints controller."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_list, dicts
from minikube_py.api.strategy import JSON, Strategy

_SHOWN = 3


class EndpointsStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Endpoints", description="Endpoints of the service"),
        table.AGE,
    )

    def validate(self, obj: JSON) -> list[Cause]:
        subsets = obj.get("subsets")
        if subsets is None:
            return []
        if not isinstance(subsets, list):
            return [field.invalid("subsets", subsets, "must be a list")]
        causes: list[Cause] = []
        for i, subset in enumerate(subsets):
            here = f"subsets[{i}]"
            if not isinstance(subset, Mapping):
                causes.append(field.invalid(here, subset, "must be an object"))
                continue
            for key in ("addresses", "notReadyAddresses"):
                for j, address in enumerate(as_list(subset.get(key))):
                    ip = address.get("ip") if isinstance(address, Mapping) else None
                    try:
                        ipaddress.ip_address(ip)  # type: ignore[arg-type]
                    except ValueError:
                        causes.append(field.invalid(f"{here}.{key}[{j}].ip", ip,
                                                    "must be a valid IP address"))
            for j, port in enumerate(as_list(subset.get("ports"))):
                if not isinstance(port, Mapping):
                    causes.append(field.invalid(f"{here}.ports[{j}]", port, "must be an object"))
                    continue
                causes += podspec.port_number_causes(port.get("port"), f"{here}.ports[{j}].port")
                protocol = port.get("protocol", "TCP")
                if protocol not in podspec.PROTOCOLS:
                    causes.append(field.not_supported(f"{here}.ports[{j}].protocol", protocol,
                                                      podspec.PROTOCOLS))
        return causes

    def set_defaults(self, obj: JSON) -> None:
        for subset in dicts(obj.get("subsets")):
            for port in dicts(subset.get("ports")):
                port.setdefault("protocol", "TCP")

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), format_endpoints(obj), table.age(obj, now)]


def format_endpoints(endpoints: Mapping[str, Any]) -> str:
    """'10.0.0.1:80,10.0.0.2:80 + 3 more...' as kubectl prints them."""
    subsets = as_list(endpoints.get("subsets"))
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in dicts(subset.get("addresses"))]
        ports = subset.get("ports") or [None]
        for port in ports:
            count += len(addresses)
            for ip in addresses:
                if len(shown) == _SHOWN:
                    break
                if port is None:
                    shown.append(ip)
                else:
                    host = f"[{ip}]" if ":" in ip else ip
                    shown.append(f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - _SHOWN} more..." if count > _SHOWN else text
