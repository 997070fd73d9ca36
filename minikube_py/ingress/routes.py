"""What the proxy should serve, computed from the caches: hosts with their ordered path
routes, backends resolved to ready endpoints, TLS certificates with their SNI hosts, and
the problems to report as Events. Pure: the renderer turns a RouteTable into HAProxy's
text and the controller decides when to load it.

Ingresses are merged oldest first (creationTimestamp, then namespace/name), so when two
claim the same host and path, or both set a defaultBackend, the older one keeps it, as
ingress-nginx does. A backend whose Service or port is missing stays in the table with
no servers (HAProxy answers 503) and the Ingress gets a Warning Event; the rest serves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.meta import join_key
from minikube_py.api.shape import as_dict, as_list, dicts, dig
from minikube_py.api.types import Object
from minikube_py.ingress.matching import best_path, host_matches, host_tier, precedence

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# The api-server lets these through (as Kubernetes does), but HAProxy's configuration
# cannot carry them: a newline ends a quoted argument and the whole file is refused,
# freezing every Ingress's routes. No request path holds one, so such a route never matched.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IP_ADDRESS_TYPES = ("IPv4", "IPv6")  # the slices served, as kube-proxy's


@dataclass(frozen=True)
class Backend:
    """One Service port; `servers` are its ready endpoints (ip, port), sorted."""

    name: str
    servers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Route:
    path: str
    path_type: str
    backend: str


@dataclass(frozen=True)
class Host:
    """One host pattern ('' = any host) and its routes in precedence order."""

    pattern: str
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Certificate:
    """A TLS Secret as one PEM (certificate chain then key) and the SNI names it serves."""

    name: str
    pem: bytes
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """A Warning Event for the Ingress `key`."""

    key: str
    reason: str
    message: str


@dataclass
class RouteTable:
    hosts: list[Host] = field(default_factory=list)
    default_backend: str | None = None
    backends: dict[str, Backend] = field(default_factory=dict)
    certificates: list[Certificate] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Sources:
    """The caches a table is built from, keyed "namespace/name"; slices by Service key."""

    service: Callable[[str], Object | None]
    slices: Callable[[str], Iterable[Object]]
    secret: Callable[[str], Object | None]


# A Secret's PEM, or ValueError saying why it cannot serve TLS (certs.pem_of).
PemReader = Callable[[Object], bytes]


def _age(ingress: Object) -> tuple[str, str, str]:
    meta = as_dict(ingress.get("metadata"))
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


def _ready_servers(slices: Iterable[Object], port_name: str) -> tuple[tuple[str, int], ...]:
    servers: set[tuple[str, int]] = set()
    for piece in slices:
        if piece.get("addressType") not in _IP_ADDRESS_TYPES:
            continue  # an FQDN: HAProxy resolves it at load, refusing the file if it cannot
        numbers = [p.get("port") for p in dicts(piece.get("ports"))
                   if (p.get("name") or "") == port_name and p.get("protocol", "TCP") == "TCP"]
        for endpoint in dicts(piece.get("endpoints")):
            if dig(endpoint, "conditions", "ready") is False:
                continue
            for ip in as_list(endpoint.get("addresses"))[:1]:
                servers.update((str(ip), n) for n in numbers if isinstance(n, int))
    return tuple(sorted(servers))


class _Builder:
    def __init__(self, sources: Sources, pem_of: PemReader) -> None:
        self.sources, self.pem_of = sources, pem_of
        self.table = RouteTable()
        self.routes: dict[str, dict[tuple[str, str], Route]] = {}
        self.cert_hosts: dict[str, list[str]] = {}
        self.pems: dict[str, bytes] = {}

    def backend(self, key: str, namespace: str, ref: Any) -> str | None:
        """The backend name for an IngressBackend (None for a resource backend)."""
        service = as_dict(as_dict(ref).get("service"))
        if not service:
            self.table.problems.append(Problem(key, "UnsupportedBackend",
                                               "resource backends are not supported"))
            return None
        svc_name = str(service.get("name") or "")
        port = as_dict(service.get("port"))
        wanted = port.get("name") or port.get("number")
        name = f"{namespace}_{svc_name}_{wanted}"
        if name in self.table.backends:
            return name
        svc = self.sources.service(join_key(namespace, svc_name))
        if svc is None:
            self.table.problems.append(Problem(key, "ServiceNotFound",
                                               f"service {namespace}/{svc_name} not found"))
            self.table.backends[name] = Backend(name)
            return name
        ports = [p for p in dicts(dig(svc, "spec", "ports"))
                 if p.get("name" if isinstance(wanted, str) else "port") == wanted]
        if not ports:
            self.table.problems.append(Problem(
                key, "ServicePortNotFound",
                f"service {namespace}/{svc_name} has no port {wanted}"))
            self.table.backends[name] = Backend(name)
            return name
        slices = self.sources.slices(join_key(namespace, svc_name))
        self.table.backends[name] = Backend(name, _ready_servers(
            slices, str(ports[0].get("name") or "")))
        return name

    def add(self, ingress: Object) -> None:
        meta = as_dict(ingress.get("metadata"))
        namespace = str(meta.get("namespace") or "")
        key = join_key(namespace, str(meta.get("name") or ""))
        spec = as_dict(ingress.get("spec"))
        if spec.get("defaultBackend") is not None:
            chosen = self.backend(key, namespace, spec["defaultBackend"])
            if self.table.default_backend is None:
                self.table.default_backend = chosen
        rule_hosts: list[str] = []
        for rule in dicts(spec.get("rules")):
            host = str(rule.get("host") or "")
            rule_hosts.append(host)
            routes = self.routes.setdefault(host, {})
            for item in dicts(dig(rule, "http", "paths")):
                path_type = str(item.get("pathType") or "Prefix")
                path = str(item.get("path") or "/")
                if _CONTROL.search(path):
                    self.table.problems.append(Problem(
                        key, "InvalidPath", f"path {path!r} has a control character: ignored"))
                    continue
                backend = self.backend(key, namespace, item.get("backend"))
                if backend is not None:
                    routes.setdefault((path, path_type), Route(path, path_type, backend))
        for tls in dicts(spec.get("tls")):
            self.add_tls(key, namespace, tls, rule_hosts)

    def add_tls(self, key: str, namespace: str, tls: Mapping[str, Any],
                rule_hosts: list[str]) -> None:
        secret_name = tls.get("secretName")
        if not secret_name:
            return
        name = f"{namespace}_{secret_name}"
        if name not in self.pems:
            secret = self.sources.secret(join_key(namespace, str(secret_name)))
            if secret is None:
                self.table.problems.append(Problem(
                    key, "SecretNotFound", f"secret {namespace}/{secret_name} not found"))
                return
            try:
                self.pems[name] = self.pem_of(secret)
            except ValueError as e:
                self.table.problems.append(Problem(
                    key, "InvalidCertificate", f"secret {namespace}/{secret_name}: {e}"))
                return
        hosts = [str(h) for h in as_list(tls.get("hosts")) if h] or [h for h in rule_hosts if h]
        known = self.cert_hosts.setdefault(name, [])
        known.extend(h for h in hosts if h not in known)

    def finish(self) -> RouteTable:
        for pattern in sorted(self.routes, key=lambda h: (host_tier(h), h)):
            ordered = sorted(self.routes[pattern].values(), key=precedence)
            if ordered:
                self.table.hosts.append(Host(pattern, tuple(ordered)))
        self.table.certificates = [Certificate(name, self.pems[name], tuple(hosts))
                                   for name, hosts in sorted(self.cert_hosts.items())]
        return self.table


def build(ingresses: Iterable[Object], sources: Sources, pem_of: PemReader) -> RouteTable:
    builder = _Builder(sources, pem_of)
    for ingress in sorted(ingresses, key=_age):
        builder.add(ingress)
    return builder.finish()


def select(table: RouteTable, host: str, path: str) -> str | None:
    """The backend Kubernetes' rules pick for a request (None: the 404 default), the
    reference the rendered HAProxy rules must agree with."""
    for candidate in table.hosts:  # precise, wildcard, then host-less
        if host_matches(candidate.pattern, host):
            rule = best_path(candidate.routes, path)
            if rule is not None:
                return rule.backend
            if candidate.pattern:
                return table.default_backend
    return table.default_backend
