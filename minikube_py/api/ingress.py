"""Ingresses (networking.k8s.io/v1): HTTP routes from hosts and paths to Services.

Validation follows Kubernetes' pkg/apis/networking/validation: every path names its
pathType, Exact and Prefix paths are absolute and free of '//', '/./', '/../' and
encoded slashes, hosts are DNS names (a wildcard only as the whole first label) and
never IPs, and each backend is a Service (by port name or number) xor a resource.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.podspec import port_name_errors
from minikube_py.api.shape import as_dict, as_list, dicts, dig
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")
_WILDCARD_RE = re.compile(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                "subdomain, which must consist of lower case alphanumeric characters, '-' or "
                "'.' and end with an alphanumeric character (e.g. '*.example.com', regex used "
                r"for validation is '\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*"
                r"[a-z0-9])?)*')")
# Where the legacy annotation names the class (still read by controllers).
CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def host_problems(host: str) -> list[str]:
    """IsWildcardDNS1123Subdomain for hosts with '*', IsDNS1123Subdomain otherwise."""
    if "*" in host:
        return [] if len(host) <= 253 and _WILDCARD_RE.match(host) else [WILDCARD_MSG]
    return meta.dns1123_subdomain(host)


def class_of(ingress: Mapping[str, Any]) -> str | None:
    """spec.ingressClassName, else the legacy annotation; None when neither is set."""
    name = dig(ingress, "spec", "ingressClassName")
    if isinstance(name, str) and name:
        return name
    legacy = dig(ingress, "metadata", "annotations", CLASS_ANNOTATION)
    return legacy if isinstance(legacy, str) and legacy else None


def validate_backend(backend: Any, path: str) -> list[Cause]:
    if not isinstance(backend, Mapping):
        return [field.invalid(path, backend, "must be an object")]
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [field.invalid(path, "", "cannot set both resource and service backends")]
    if service is None and resource is None:
        return [field.invalid(path, "", "either `resource` or `service` must be specified")]
    if resource is not None:
        return _validate_resource_ref(resource, f"{path}.resource")
    return _validate_service_backend(service, f"{path}.service")


def _validate_resource_ref(ref: Any, path: str) -> list[Cause]:
    if not isinstance(ref, Mapping):
        return [field.invalid(path, ref, "must be an object")]
    causes: list[Cause] = []
    group = ref.get("apiGroup")
    if group is not None:
        causes += meta.validate_name(group, f"{path}.apiGroup", meta.dns1123_subdomain)
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            causes.append(field.required(f"{path}.{key}"))
        elif not isinstance(value, str):
            causes.append(field.invalid(f"{path}.{key}", value, "must be a string"))
        elif "/" in value or "%" in value or value in (".", ".."):
            causes.append(field.invalid(f"{path}.{key}", value,
                                        "may not contain '/' or '%' and may not be '.' or '..'"))
    return causes


def _validate_service_backend(service: Any, path: str) -> list[Cause]:
    if not isinstance(service, Mapping):
        return [field.invalid(path, service, "must be an object")]
    causes: list[Cause] = []
    name = service.get("name")
    if not name:
        causes.append(field.required(f"{path}.name"))
    else:
        causes += meta.validate_name(name, f"{path}.name", meta.dns1035_label)
    port = service.get("port")
    if not isinstance(port, Mapping):
        causes.append(field.invalid(f"{path}.port", port, "must be an object") if port is not None
                      else field.required(f"{path}.port", "port name or number is required"))
        return causes
    port_name, number = port.get("name"), port.get("number")
    if port_name and number:
        causes.append(field.invalid(f"{path}.port", "", "cannot set both port name & port number"))
    elif port_name:
        causes += [field.invalid(f"{path}.port.name", port_name, p)
                   for p in port_name_errors(port_name)]
    elif number:
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            causes.append(field.invalid(f"{path}.port.number", number,
                                        "must be between 1 and 65535, inclusive"))
    else:
        causes.append(field.required(f"{path}.port", "port name or number is required"))
    return causes


def _validate_path(item: Mapping[str, Any], here: str) -> list[Cause]:
    causes: list[Cause] = []
    kind, path = item.get("pathType"), item.get("path")
    if path is not None and not isinstance(path, str):
        return [field.invalid(f"{here}.path", path, "must be a string")]
    path = path or ""
    if kind is None:
        causes.append(field.required(f"{here}.pathType", "pathType must be specified"))
    elif kind in ("Exact", "Prefix"):
        if not path.startswith("/"):
            causes.append(field.invalid(f"{here}.path", path, "must be an absolute path"))
        causes += [field.invalid(f"{here}.path", path, f"must not contain '{seq}'")
                   for seq in _INVALID_SEQUENCES if seq in path]
        causes += [field.invalid(f"{here}.path", path, f"cannot end with '{suffix}'")
                   for suffix in _INVALID_SUFFIXES if path.endswith(suffix)]
    elif kind == "ImplementationSpecific":
        if path and not path.startswith("/"):
            causes.append(field.invalid(f"{here}.path", path, "must be an absolute path"))
    else:
        causes.append(field.not_supported(f"{here}.pathType", kind, PATH_TYPES))
    return causes + validate_backend(item.get("backend"), f"{here}.backend")


def _validate_rules(rules: Any, causes: list[Cause]) -> None:
    for here, rule in field.objects(rules, "spec.rules", causes):
        host = rule.get("host")
        if host:
            if not isinstance(host, str):
                causes.append(field.invalid(f"{here}.host", host, "must be a string"))
            elif is_ip(host):
                causes.append(field.invalid(f"{here}.host", host,
                                            "must be a DNS name, not an IP address"))
            else:
                causes += [field.invalid(f"{here}.host", host, p) for p in host_problems(host)]
        http = rule.get("http")
        if http is None:
            continue
        if not isinstance(http, Mapping):
            causes.append(field.invalid(f"{here}.http", http, "must be an object"))
            continue
        paths = http.get("paths")
        if not paths:
            causes.append(field.required(f"{here}.http.paths"))
        for at, item in field.objects(paths, f"{here}.http.paths", causes):
            causes += _validate_path(item, at)


def _validate_tls(tls: Any, causes: list[Cause]) -> None:
    for here, entry in field.objects(tls, "spec.tls", causes):
        hosts = entry.get("hosts")
        if hosts is not None and not isinstance(hosts, list):
            causes.append(field.invalid(f"{here}.hosts", hosts, "must be a list"))
            hosts = []
        for j, host in enumerate(hosts or []):
            if not isinstance(host, str):
                causes.append(field.invalid(f"{here}.hosts[{j}]", host, "must be a string"))
                continue
            causes += [field.invalid(f"{here}.hosts[{j}]", host, p) for p in host_problems(host)]
        secret = entry.get("secretName")
        if secret:
            causes += meta.validate_name(secret, f"{here}.secretName", meta.dns1123_subdomain)


def _validate_status(status: Any) -> list[Cause]:
    causes: list[Cause] = []
    ingress = dig(status, "loadBalancer", "ingress")
    for here, entry in field.objects(ingress, "status.loadBalancer.ingress", causes):
        ip, hostname = entry.get("ip"), entry.get("hostname")
        if ip and (not isinstance(ip, str) or not is_ip(ip)):
            causes.append(field.invalid(f"{here}.ip", ip, "must be a valid IP address"))
        if hostname:
            if not isinstance(hostname, str):
                causes.append(field.invalid(f"{here}.hostname", hostname, "must be a string"))
            elif is_ip(hostname):
                causes.append(field.invalid(f"{here}.hostname", hostname, "must be a DNS name, "
                                                                         "not an IP address"))
            else:
                causes += [field.invalid(f"{here}.hostname", hostname, p)
                           for p in meta.dns1123_subdomain(hostname)]
    return causes


def hosts_cell(obj: Mapping[str, Any]) -> str:
    """kubectl's formatHosts: the first 3 hosts, then '+ N more...'; '*' when none."""
    rules = dicts(dig(obj, "spec", "rules"))
    hosts = [h for h in (r.get("host") for r in rules[:3]) if isinstance(h, str) and h]
    shown = ",".join(hosts) or "*"
    return shown + (f" + {len(rules) - 3} more..." if len(rules) > 3 else "")


def address_cell(obj: Mapping[str, Any]) -> str:
    """Load-balancer addresses (the api-server prints wide: never truncated)."""
    found = [e.get("ip") or e.get("hostname") or ""
             for e in dicts(dig(obj, "status", "loadBalancer", "ingress"))]
    return ",".join(str(x) for x in found if x)


class IngressStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Class", description="ingressClassName is the name of an IngressClass "
                                          "cluster resource."),
        table.Column("Hosts", description="host is the fully qualified domain name of a "
                                          "network host."),
        table.Column("Address", description="loadBalancer contains the current status of the "
                                            "load-balancer."),
        table.Column("Ports", description="Port of the TLS and non-TLS listeners."),
        table.AGE,
    )

    def initial_status(self, obj: Object) -> Object | None:
        return {"loadBalancer": {}}

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.invalid("spec", spec, "must be an object") if spec is not None
                    else field.invalid("spec", [], "either `defaultBackend` or `rules` must "
                                                    "be specified")]
        causes: list[Cause] = []
        rules, default = spec.get("rules"), spec.get("defaultBackend")
        if not rules and default is None:
            causes.append(field.invalid("spec.rules", as_list(rules), "either `defaultBackend` "
                                                                     "or `rules` must be "
                                                                     "specified"))
        if default is not None:
            causes += validate_backend(default, "spec.defaultBackend")
        _validate_rules(rules, causes)
        _validate_tls(spec.get("tls"), causes)
        name = spec.get("ingressClassName")
        if name is not None:
            causes += meta.validate_name(name, "spec.ingressClassName", meta.dns1123_subdomain)
        return causes + _validate_status(obj.get("status"))

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        return [table.name(obj), spec.get("ingressClassName") or "<none>", hosts_cell(obj),
                address_cell(obj), "80, 443" if spec.get("tls") else "80",
                table.age(obj, now)]
