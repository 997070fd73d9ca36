"""Endpoints: the addresses behind a Service, written by the endpoints controller."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_list, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

_SHOWN = 3


class EndpointsStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Endpoints", description="Endpoints of the service"),
        table.AGE,
    )

    def validate(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        for here, subset in field.objects(obj.get("subsets"), "subsets", causes):
            for key in ("addresses", "notReadyAddresses"):
                for j, address in enumerate(as_list(subset.get(key))):
                    address = address if isinstance(address, Mapping) else {}
                    ip = address.get("ip")
                    try:  # a string: ipaddress also takes 167772161 (10.0.0.1), iptables not
                        ipaddress.ip_address(ip if isinstance(ip, str) else "")
                    except ValueError:
                        causes.append(field.invalid(f"{here}.{key}[{j}].ip", ip,
                                                    "must be a valid IP address"))
                    hostname = address.get("hostname")
                    if hostname is not None:  # mirrored into slices: the DNS server's name
                        causes += meta.validate_name(hostname, f"{here}.{key}[{j}].hostname",
                                                     meta.dns1123_label)
            for place, port in field.objects(subset.get("ports"), f"{here}.ports", causes):
                causes += podspec.port_number_causes(port.get("port"), f"{place}.port")
                protocol = port.get("protocol", "TCP")
                if protocol not in podspec.PROTOCOLS:
                    causes.append(field.not_supported(f"{place}.protocol", protocol,
                                                      podspec.PROTOCOLS))
        return causes

    def set_defaults(self, obj: Object) -> None:
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
