"""The cluster zone, computed at query time from the informer caches (pure: no I/O).

Names follow the Kubernetes DNS-Based Service Discovery specification 1.0.1
(kubernetes/dns docs/specification.md): A/AAAA for ClusterIP Services, the ready
endpoints of headless ones (and `<hostname>.<service>`), SRV per named port, PTR for
Service and headless-endpoint addresses, CNAME for ExternalName, `a-b-c-d.<ns>.pod`,
`dns-version` TXT, SOA/NS at the apex. A name under the zone that names nothing is
NXDOMAIN; a name that exists without the asked type is NODATA; both carry the SOA.

Lookups read the caches through indexes instead of rebuilding a zone on every watch
event: 10,000 Services cost no time until asked about.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minikube_py.api.meta import join_key
from minikube_py.api.meta import key as object_key
from minikube_py.api.types import Object

SCHEMA_VERSION = "1.0.1"
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Index names on the informer caches (add_indexes puts them there).
BY_CLUSTER_IP = "dns-cluster-ip"
BY_SERVICE = "dns-service"
BY_ADDRESS = "dns-address"



class Store(Protocol):
    """What the zone reads from an informer cache (client/cache.Indexer has it)."""

    def get(self, key: str) -> Object | None: ...

    def by_index(self, name: str, value: str) -> list[Object]: ...


@dataclass(frozen=True)
class RR:
    """One resource record; `data` by type: A/AAAA (ip,), CNAME/PTR/NS (target,),
    TXT (text,), SRV (priority, weight, port, target), SOA (mname, rname, serial,
    refresh, retry, expire, minimum). Names are absolute, with the trailing dot."""

    name: str
    rtype: str
    ttl: int
    data: tuple[Any, ...]


@dataclass
class Answer:
    rcode: int = NOERROR
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)


def _cluster_ips(service: Object) -> list[str]:
    spec = service.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if isinstance(ip, str) and ip not in ("None", "")]


def _slice_service(slice_: Object) -> list[str]:
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [join_key(meta.get("namespace"), name)] if name else []


def _slice_addresses(slice_: Object) -> list[str]:
    return [a for ep in slice_.get("endpoints") or [] for a in ep.get("addresses") or []
            if isinstance(a, str)]


def add_indexes(services: Any, slices: Any) -> None:
    """The indexes lookups use: Services by cluster IP, slices by Service and address."""
    services.add_index(BY_CLUSTER_IP, _cluster_ips)
    slices.add_index(BY_SERVICE, _slice_service)
    slices.add_index(BY_ADDRESS, _slice_addresses)


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


@dataclass(frozen=True)
class _Endpoint:
    ip: str
    hostname: str
    ready: bool


class Zone:
    """Answers for names under `domain` (and reverse names of cluster addresses)."""

    def __init__(self, domain: str, *, services: Store, slices: Store, namespaces: Store,
                 ttl: int = 5, serial: int = 1) -> None:
        self.domain = domain.strip(".").lower()
        self.origin = self.domain + "."
        self.services, self.slices, self.namespaces = services, slices, namespaces
        self.ttl = ttl
        self.serial = serial
        self.ns_name = f"ns.dns.{self.origin}"

    # -- the entry point -----------------------------------------------------------

    def owns(self, qname: str) -> bool:
        """Whether `qname` is in the cluster zone (reverse names are decided by lookup)."""
        name = qname.lower().rstrip(".")
        return name == self.domain or name.endswith("." + self.domain)

    def lookup(self, qname: str, qtype: str) -> Answer | None:
        """The answer for (qname, qtype), or None if the name is not ours to answer
        (outside the zone, or a reverse name of no cluster address): forward it."""
        name = qname.lower().rstrip(".")
        owner = qname if qname.endswith(".") else qname + "."
        if name.endswith((".in-addr.arpa", ".ip6.arpa")):
            return self._reverse(owner, name, qtype)
        if not self.owns(name):
            return None
        labels = name[: -len(self.domain)].rstrip(".").split(".") if name != self.domain \
            else []
        records = self._records(owner, list(reversed(labels)))
        if records is None:
            return self._negative(NXDOMAIN)
        wanted = [rr for rr in records if rr.rtype == qtype or rr.rtype == "CNAME"
                  or (qtype == "ANY")]
        if not wanted:
            return self._negative(NOERROR)  # NODATA: the name exists, not this type
        return Answer(answer=wanted, additional=self._additional(wanted))

    # -- names under the zone ----------------------------------------------------------

    def _records(self, owner: str, path: list[str]) -> list[RR] | None:
        """Every record at the name (labels from the zone down); None: no such name."""
        match path:
            case []:
                return [self.soa(), RR(owner, "NS", self.ttl, (self.ns_name,))]
            case ["dns-version"]:
                return [RR(owner, "TXT", self.ttl, (SCHEMA_VERSION,))]
            case ["dns"]:
                return []  # empty non-terminal above ns.dns
            case ["dns", "ns"]:
                return [RR(owner, _family(ip), self.ttl, (ip,))
                        for ip in _cluster_ips(self._service("kube-system", "kube-dns") or {})]
            case ["svc" | "pod"]:
                return []
            case ["svc" | "pod", ns]:
                return [] if self._namespace(ns) else None
            case ["pod", ns, dashed]:
                return self._pod(owner, ns, dashed)
            case ["svc", ns, name]:
                return self._service_records(owner, ns, name)
            case ["svc", ns, name, host]:
                return self._host(owner, ns, name, host)
            case ["svc", ns, name, proto, port] if port.startswith("_") \
                    and proto.startswith("_"):
                return self._srv(owner, ns, name, port[1:], proto[1:])
        return None

    def _namespace(self, ns: str) -> bool:
        return self.namespaces.get(ns) is not None

    def _service(self, ns: str, name: str) -> Object | None:
        return self.services.get(join_key(ns, name))

    def _pod(self, owner: str, ns: str, dashed: str) -> list[RR] | None:
        parts = dashed.split("-")
        if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 and len(p) <= 3
                                      for p in parts) or not self._namespace(ns):
            return None
        return [RR(owner, "A", self.ttl, (".".join(str(int(p)) for p in parts),))]

    def _service_records(self, owner: str, ns: str, name: str) -> list[RR] | None:
        service = self._service(ns, name)
        if service is None:
            return None
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            target = str(spec.get("externalName") or "").rstrip(".") + "."
            return [RR(owner, "CNAME", self.ttl, (target,))]
        ips = _cluster_ips(service)
        if not ips:  # headless: the ready endpoints; none ready is NXDOMAIN (spec 2.4.1)
            ips = sorted({ep.ip for ep in self._endpoints(service)})
            if not ips:
                return None
        return [RR(owner, _family(ip), self.ttl, (ip,)) for ip in ips]

    def _endpoints(self, service: Object) -> list[_Endpoint]:
        """Ready endpoints of a Service (all of them with publishNotReadyAddresses)."""
        publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        found = []
        for slice_ in self.slices.by_index(BY_SERVICE, object_key(service)):
            for ep in slice_.get("endpoints") or []:
                ready = (ep.get("conditions") or {}).get("ready")
                if ready is False and not publish_all:
                    continue
                for ip in ep.get("addresses") or []:
                    found.append(_Endpoint(ip, str(ep.get("hostname") or _dashed(ip)), True))
        return found

    def _host(self, owner: str, ns: str, name: str, host: str) -> list[RR] | None:
        service = self._service(ns, name)
        if service is None or _cluster_ips(service):
            return None
        ips = sorted({ep.ip for ep in self._endpoints(service) if ep.hostname.lower() == host})
        return [RR(owner, _family(ip), self.ttl, (ip,)) for ip in ips] or None

    def _srv(self, owner: str, ns: str, name: str, port_name: str,
             proto: str) -> list[RR] | None:
        service = self._service(ns, name)
        if service is None:
            return None
        ports = [p for p in (service.get("spec") or {}).get("ports") or []
                 if str(p.get("name") or "").lower() == port_name
                 and str(p.get("protocol") or "TCP").lower() == proto]
        if not ports:
            return None
        base = f"{name}.{ns}.svc.{self.origin}"
        if _cluster_ips(service):
            targets = [base]
        else:
            targets = sorted({f"{ep.hostname}.{base}" for ep in self._endpoints(service)})
            if not targets:
                return None
        weight = max(1, 100 // len(targets))
        return [RR(owner, "SRV", self.ttl, (0, weight, int(p["port"]), target))
                for p in ports for target in targets]

    def _additional(self, answers: list[RR]) -> list[RR]:
        """Address records of SRV targets (spec 2.3.2 / 2.4.2: may be included)."""
        extra: list[RR] = []
        for rr in answers:
            if rr.rtype == "SRV":
                target = rr.data[3]
                found = self.lookup(target, "A")
                extra += found.answer if found else []
            elif rr.rtype == "NS":
                found = self.lookup(rr.data[0], "A")
                extra += found.answer if found else []
        return list(dict.fromkeys(extra))

    # -- reverse names -------------------------------------------------------------

    def _reverse(self, owner: str, name: str, qtype: str) -> Answer | None:
        ip = _reverse_ip(name)
        if ip is None:
            return None
        targets = [f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.{self.origin}"
                   for s in self.services.by_index(BY_CLUSTER_IP, ip)]
        targets += self._endpoint_names(ip)
        if not targets:
            return None
        if qtype not in ("PTR", "ANY"):
            return self._negative(NOERROR)
        return Answer(answer=[RR(owner, "PTR", self.ttl, (t,)) for t in sorted(set(targets))])

    def _endpoint_names(self, ip: str) -> Iterable[str]:
        """`<hostname>.<service>.<ns>.svc.<zone>` of headless endpoints at `ip` (spec 2.4.3)."""
        for slice_ in self.slices.by_index(BY_ADDRESS, ip):
            for key in _slice_service(slice_):
                ns, _, svc = key.partition("/")
                service = self._service(ns, svc)
                if service is None or _cluster_ips(service):
                    continue
                for ep in self._endpoints(service):
                    if ep.ip == ip:
                        yield f"{ep.hostname}.{svc}.{ns}.svc.{self.origin}"

    # -- negative answers ----------------------------------------------------------------

    def soa(self) -> RR:
        return RR(self.origin, "SOA", self.ttl, (self.ns_name, f"hostmaster.{self.origin}",
                                                self.serial, 7200, 1800, 86400, self.ttl))

    def _negative(self, rcode: int) -> Answer:
        return Answer(rcode=rcode, authority=[self.soa()])


def _family(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"


def _reverse_ip(name: str) -> str | None:
    """The address a reverse name stands for; None if it is not a whole address."""
    try:
        if name.endswith(".in-addr.arpa"):
            octets = name[: -len(".in-addr.arpa")].split(".")
            if len(octets) != 4:
                return None
            return str(ipaddress.IPv4Address(".".join(reversed(octets))))
        nibbles = name[: -len(".ip6.arpa")].split(".")
        if len(nibbles) != 32 or any(len(n) != 1 for n in nibbles):
            return None
        return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
    except ValueError:
        return None
