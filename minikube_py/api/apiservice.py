"""apiregistration.k8s.io/v1 APIService: one group/version served by another server.

As kube-aggregator: the name is `<version>.<group>`; an APIService with a `service`
has its requests proxied by the api-server to that Service (TLS checked against
`caBundle` unless `insecureSkipTLSVerify`), one without is "Local" (served here). The
`Available` condition is the api-server's availability controller's to write
(apiserver/aggregation_availability.py); `kubectl get apiservices` shows it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

GROUP = "apiregistration.k8s.io"
DEFAULT_PORT = 443


def service_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """spec.service, or None for a Local APIService."""
    ref = as_dict(obj.get("spec")).get("service")
    return ref if isinstance(ref, dict) else None


def ca_bundle(obj: Mapping[str, Any]) -> bytes:
    """spec.caBundle decoded (PEM bytes); empty when absent or not base64."""
    raw = as_dict(obj.get("spec")).get("caBundle")
    if not isinstance(raw, str) or not raw:
        return b""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return b""


def available_cell(obj: Mapping[str, Any]) -> str:
    """kubectl's AVAILABLE: True, "False (Reason)", or Unknown before the first check."""
    condition = meta.get_condition(obj, "Available")
    if condition is None:
        return "Unknown"
    status = str(condition.get("status", "Unknown"))
    return status if status == "True" else f"{status} ({condition.get('reason', '')})"


def _priority(spec: Mapping[str, Any], key: str, limit: int) -> list[Cause]:
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit:
        return []
    return [field.invalid(f"spec.{key}", value, f"must be positive and less than {limit}")]


class APIServiceStrategy(Strategy):
    has_spec = True
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Service", description="The reference to the service that hosts this "
                                            "API endpoint."),
        table.Column("Available", description="Whether this service is available."),
        table.AGE,
    )

    def name_problems(self, name: str) -> list[str]:
        """Any path segment (IsValidPathSegmentName); that it is version.group is checked
        with the spec."""
        problems = [f"may not be '{name}'"] if name in (".", "..") else []
        return problems + [f"may not contain '{c}'" for c in "/%" if c in name]

    def set_defaults(self, obj: Object) -> None:
        ref = service_ref(obj)
        if ref is not None:
            ref.setdefault("port", DEFAULT_PORT)

    def validate(self, obj: Object) -> list[Cause]:
        """ValidateAPIService, message for message."""
        spec = as_dict(obj.get("spec"))
        group, version = spec.get("group") or "", spec.get("version") or ""
        causes: list[Cause] = []
        if not isinstance(group, str) or not isinstance(version, str):
            return [field.invalid("spec", spec, "group and version must be strings")]
        name = as_dict(obj.get("metadata")).get("name")
        wanted = f"{version}.{group}"
        if isinstance(name, str) and name and name != wanted:
            causes.append(field.invalid("metadata.name", name,
                                        f'must be `spec.version+"."+spec.group`: "{wanted}"'))
        if not group and version != "v1":
            causes.append(field.required("spec.group", "only v1 may have an empty group and "
                                                       "it better be legacy kube"))
        causes += [field.invalid("spec.group", group, m) for m in
                   (meta.dns1123_subdomain(group) if group else [])]
        causes += [field.invalid("spec.version", version, m)
                   for m in meta.dns1035_label(version)]
        causes += _priority(spec, "groupPriorityMinimum", 20000)
        causes += _priority(spec, "versionPriority", 1000)
        bundle, skip = spec.get("caBundle"), spec.get("insecureSkipTLSVerify")
        if bundle is not None and (not isinstance(bundle, str) or (bundle and not ca_bundle(
                obj))):
            causes.append(field.invalid("spec.caBundle", "<bytes>", "must be base64 encoded"))
        if skip is not None and not isinstance(skip, bool):
            causes.append(field.invalid("spec.insecureSkipTLSVerify", skip, "must be a boolean"))
        ref = spec.get("service")
        if ref is None:
            if bundle:
                causes.append(field.invalid("spec.caBundle", f"{len(ca_bundle(obj))} bytes",
                                            "local APIServices may not have a caBundle"))
            if skip:
                causes.append(field.invalid("spec.insecureSkipTLSVerify", skip,
                                            "local APIServices may not have "
                                            "insecureSkipTLSVerify"))
            return causes
        if not isinstance(ref, dict):
            return [*causes, field.invalid("spec.service", ref, "must be an object")]
        for key in ("namespace", "name"):
            if not ref.get(key):
                causes.append(field.required(f"spec.service.{key}"))
            elif not isinstance(ref[key], str) or meta.dns1123_label(ref[key]):
                causes.append(field.invalid(f"spec.service.{key}", ref[key],
                                            "must be a DNS-1123 label"))
        port = ref.get("port")
        if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            causes.append(field.invalid("spec.service.port", port, "port is not valid: must "
                                        "be between 1 and 65535, inclusive"))
        if skip and bundle:
            causes.append(field.invalid("spec.insecureSkipTLSVerify", skip,
                                        "may not be true if caBundle is present"))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        ref = service_ref(obj)
        service = f"{ref.get('namespace')}/{ref.get('name')}" if ref else "Local"
        return [table.name(obj), service, available_cell(obj), table.age(obj, now)]
