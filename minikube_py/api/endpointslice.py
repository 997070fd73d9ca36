"""EndpointSlices (discovery.k8s.io/v1): the addresses behind a Service as kubectl
>= 1.2x and kube-proxy read them, written by the endpointslice controller."""

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

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
_SHOWN = 3
_IP_VERSIONS = {"IPv4": 4, "IPv6": 6}


class EndpointSliceStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("AddressType", description="addressType specifies the type of address "
                                                "carried by this EndpointSlice."),
        table.Column("Ports", description="ports specifies the list of network ports exposed "
                                          "by each endpoint in this slice."),
        table.Column("Endpoints", description="endpoints is a list of unique endpoints in "
                                              "this slice."),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        for port in dicts(obj.get("ports")):
            port.setdefault("protocol", "TCP")

    def validate(self, obj: Object) -> list[Cause]:
        address_type = obj.get("addressType")
        if not address_type:
            causes = [field.required("addressType")]
        elif address_type not in ADDRESS_TYPES:
            causes = [field.not_supported("addressType", address_type, ADDRESS_TYPES)]
        else:
            causes = []
        for here, endpoint in field.objects(obj.get("endpoints"), "endpoints", causes):
            addresses = endpoint.get("addresses")
            if not isinstance(addresses, list) or not addresses:
                causes.append(field.required(f"{here}.addresses", "must contain at least 1 "
                                                                  "address"))
                continue
            for j, address in enumerate(addresses):
                problem = _address_problem(address, address_type)
                if problem:
                    causes.append(field.invalid(f"{here}.addresses[{j}]", address, problem))
            if endpoint.get("hostname") is not None:  # the DNS server's <hostname>.<svc>
                causes += meta.validate_name(endpoint["hostname"], f"{here}.hostname",
                                             meta.dns1123_label)
        names: set[str] = set()
        for here, port in field.objects(obj.get("ports"), "ports", causes):
            if port.get("port") is not None:
                causes += podspec.port_number_causes(port.get("port"), f"{here}.port")
            protocol = port.get("protocol", "TCP")
            if protocol not in podspec.PROTOCOLS:
                causes.append(field.not_supported(f"{here}.protocol", protocol,
                                                  podspec.PROTOCOLS))
            name = port.get("name") or ""
            if not isinstance(name, str) or (name and meta.dns1123_label(name)):
                causes.append(field.invalid(f"{here}.name", name,
                                            "must be a valid DNS label (RFC 1123)"))
            elif name in names:
                causes.append(field.duplicate(f"{here}.name", name))
            else:
                names.add(name)
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        if new.get("addressType") != old.get("addressType"):
            return [field.immutable("addressType", new.get("addressType"))]
        return []

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        ports = [str(p.get("port", p.get("name", "*"))) for p in dicts(obj.get("ports"))]
        addresses = [a for e in dicts(obj.get("endpoints")) for a in as_list(e.get("addresses"))]
        return [table.name(obj), str(obj.get("addressType") or ""), _first_few(ports),
                _first_few([str(a) for a in addresses]), table.age(obj, now)]


def _address_problem(address: Any, address_type: Any) -> str:
    """Why `address` cannot be in a slice of `address_type` ("" when it can)."""
    if not isinstance(address, str):
        return "must be a string"
    version = _IP_VERSIONS.get(address_type) if isinstance(address_type, str) else None
    if version is None:  # FQDN (or an unsupported type, already reported)
        return "" if address_type != "FQDN" or not meta.dns1123_subdomain(address) else (
            "must be a valid DNS subdomain")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "must be a valid IP address"
    return "" if parsed.version == version else f"must be a valid {address_type} address"


def _first_few(items: list[str]) -> str:
    """'a,b,c + 2 more...' or '<unset>', as kubectl's listWithMoreString prints."""
    text = ",".join(items[:_SHOWN])
    if len(items) > _SHOWN:
        text += f" + {len(items) - _SHOWN} more..."
    return text or "<unset>"
