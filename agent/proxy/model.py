"""What the proxy programs, read from Service and Endpoints objects.

A Service with several ports is several independent `ServicePort`s, each with
its own chains, as in kube-proxy; the rules are a pure function of one
`ServicePort` and its ready `Endpoint`s, which is what lets a sync skip every
service whose inputs did not change.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from minikube_py.api.meta import join_key
from minikube_py.api.types import EndpointSubset, Object, ServiceSpec


@dataclass(frozen=True, order=True)
class Endpoint:
    """One ready backend of a service port; `local`: on this proxy's node."""

    ip: str
    port: int
    local: bool = False

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, as the rules need it."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # lower case, as iptables spells it: "tcp" | "udp"
    cluster_ip: str
    port: int
    node_port: int = 0
    affinity_seconds: int = 0  # > 0: ClientIP session affinity
    external_ips: tuple[str, ...] = ()    # spec.externalIPs
    lb_ips: tuple[str, ...] = ()          # status.loadBalancer.ingress[].ip
    external_local: bool = False          # externalTrafficPolicy: Local
    internal_local: bool = False          # internalTrafficPolicy: Local
    source_ranges: tuple[str, ...] = ()   # loadBalancerSourceRanges (for lb_ips)

    @property
    def has_external(self) -> bool:
        """Reachable from outside the cluster: node port, external IPs or LB addresses."""
        return bool(self.node_port or self.external_ips or self.lb_ips)

    @property
    def service_key(self) -> str:
        return join_key(self.namespace, self.name)

    @property
    def port_key(self) -> str:
        """kube-proxy's ServicePortName string: "ns/name:port" (":port" only when named)."""
        base = self.service_key
        return f"{base}:{self.port_name}" if self.port_name else base


def has_cluster_ip(service: Object) -> bool:
    """Headless services ("None") and those without an address get no rules."""
    ip = service.get("spec", {}).get("clusterIP") or ""
    return ip not in ("", "None")


def service_ports(service: Object) -> list[ServicePort]:
    """The proxied ports of a Service; [] for headless services and ExternalName."""
    spec: ServiceSpec = service.get("spec", {})
    if not has_cluster_ip(service) or spec.get("type") == "ExternalName":
        return []
    meta = service["metadata"]
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = spec.get("sessionAffinityConfig") or {}
        affinity = int((config.get("clientIP") or {}).get("timeoutSeconds") or 10800)
    with_node_port = spec.get("type") in ("NodePort", "LoadBalancer")
    is_lb = spec.get("type") == "LoadBalancer"
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = tuple(i["ip"] for i in ingress if is_lb and i.get("ip")
                   and i.get("ipMode", "VIP") == "VIP")
    external_ips = tuple(spec.get("externalIPs") or ())
    external_local = spec.get("externalTrafficPolicy") == "Local" and with_node_port
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    ranges = tuple(spec.get("loadBalancerSourceRanges") or ()) if lb_ips else ()
    return [
        ServicePort(
            namespace=meta.get("namespace", "default"),
            name=meta["name"],
            port_name=p.get("name") or "",
            protocol=(p.get("protocol") or "TCP").lower(),
            cluster_ip=spec["clusterIP"],
            port=int(p["port"]),
            node_port=int(p.get("nodePort") or 0) if with_node_port else 0,
            affinity_seconds=affinity,
            external_ips=external_ips,
            lb_ips=lb_ips,
            external_local=external_local,
            internal_local=internal_local,
            source_ranges=ranges,
        )
        for p in spec.get("ports") or []
        if (p.get("protocol") or "TCP") in ("TCP", "UDP")
    ]


def _is_ipv4(address: str, network: bool = False) -> bool:
    try:
        if network:
            ipaddress.IPv4Network(address, strict=False)
        else:
            ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return True


def renderable(sp: ServicePort) -> tuple[ServicePort, list[str]]:
    """`sp` as this (IPv4, iptables) proxy can program it, and the addresses it leaves out.

    External and load-balancer addresses of the other family are left out, as
    kube-proxy's per-family proxiers do. What cannot be rendered at all (a clusterIP
    that is not IPv4, a port or affinity timeout out of range, a source range that is
    not IPv4: dropping it would open the firewall) raises ValueError.
    """
    if not _is_ipv4(sp.cluster_ip):
        raise ValueError(f"clusterIP {sp.cluster_ip} is not an IPv4 address")
    if not 0 < sp.port < 65536 or not 0 <= sp.node_port < 65536:
        raise ValueError(f"port {sp.port} or nodePort {sp.node_port} out of range")
    if not 0 <= sp.affinity_seconds <= 86400:
        raise ValueError(f"session affinity timeout {sp.affinity_seconds}s out of range")
    bad_ranges = [r for r in sp.source_ranges if not _is_ipv4(r, network=True)]
    if bad_ranges:
        raise ValueError(f"loadBalancerSourceRanges not IPv4: {', '.join(bad_ranges)}")
    external = tuple(a for a in sp.external_ips if _is_ipv4(a))
    lb = tuple(a for a in sp.lb_ips if _is_ipv4(a))
    left_out = [a for a in sp.external_ips + sp.lb_ips if a not in external + lb]
    return replace(sp, external_ips=external, lb_ips=lb), left_out


def ready_endpoints(endpoints: Object | None, node_name: str = ""
                    ) -> dict[str, tuple[Endpoint, ...]]:
    """Ready addresses of an Endpoints object by port name, sorted so rules are stable;
    those on `node_name` are marked local."""
    found: dict[str, set[Endpoint]] = {}
    subsets: list[EndpointSubset] = (endpoints or {}).get("subsets") or []
    for subset in subsets:
        addresses = subset.get("addresses") or []
        for port in subset.get("ports") or []:
            bucket = found.setdefault(port.get("name") or "", set())
            bucket.update(Endpoint(a["ip"], int(port["port"]),
                                   bool(node_name) and a.get("nodeName") == node_name)
                          for a in addresses if a.get("ip"))
    return {name: tuple(sorted(eps)) for name, eps in found.items()}
