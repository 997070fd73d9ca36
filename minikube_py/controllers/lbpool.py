"""LoadBalancer address pools and who holds which address, as MetalLB's allocator.

Pure bookkeeping (no I/O) for the service-lb controller. A pool is a name and
ranges ("192.168.1.240-192.168.1.250", CIDRs, single addresses). An address
is held by one Service, or shared by several that all carry the same sharing
key (the `allow-shared-ip` annotation, MetalLB's `metallb.universe.tf/
allow-shared-ip`), use no port twice, and agree on where traffic may go: all
externalTrafficPolicy Cluster, or all Local with the same selector (one node
announces the address, so it must hold endpoints of every sharer).

Messages are MetalLB's, so its documentation explains our Events.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

ANNOTATION_PREFIX = "minikube-py.io/"
SHARING_ANNOTATION = ANNOTATION_PREFIX + "allow-shared-ip"
POOL_ANNOTATION = ANNOTATION_PREFIX + "address-pool"
IPS_ANNOTATION = ANNOTATION_PREFIX + "loadBalancerIPs"


class AllocationError(Exception):
    """No address for this Service; the message says why (it goes into an Event)."""


@dataclass(frozen=True)
class Pool:
    """Named address ranges, each (first, last) inclusive as integers."""

    name: str
    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, ip: int) -> bool:
        return any(first <= ip <= last for first, last in self.ranges)

    def addresses(self) -> Iterator[int]:
        for first, last in self.ranges:
            yield from range(first, last + 1)

    @property
    def size(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)


def parse_range(text: str) -> tuple[int, int]:
    """"a.b.c.d-e.f.g.h", "a.b.c.d/nn" or one address, IPv4; ValueError saying what is wrong."""
    text = text.strip()
    try:
        if "-" in text:
            low, high = (int(ipaddress.IPv4Address(p.strip())) for p in text.split("-", 1))
            if low > high:
                raise ValueError(f"invalid IP range {text!r}: first address after last")
            return low, high
        net = ipaddress.IPv4Network(text, strict=False)
    except ipaddress.AddressValueError as e:
        raise ValueError(f"invalid CIDR or IP range {text!r}: {e}") from None
    except ipaddress.NetmaskValueError as e:
        raise ValueError(f"invalid CIDR {text!r}: {e}") from None
    return int(net.network_address), int(net.broadcast_address)


def parse_pool(name: str, spec: str) -> Pool:
    """A pool from ranges separated by commas, spaces or newlines."""
    parts = [p for p in spec.replace(",", " ").split() if p]
    if not parts:
        raise ValueError(f"pool {name!r} has no addresses")
    return Pool(name, tuple(parse_range(p) for p in parts))


def parse_pools(data: Mapping[str, str]) -> list[Pool]:
    """Pools from a ConfigMap's data (key = pool name, value = its ranges), by name."""
    return [parse_pool(name, spec) for name, spec in sorted(data.items())]


def ip_text(ip: int) -> str:
    return str(ipaddress.IPv4Address(ip))


def ip_value(text: str) -> int | None:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        return None


@dataclass(frozen=True)
class Claim:
    """What one Service asks of its address."""

    service: str                       # "ns/name"
    sharing: str = ""                  # sharing key, "" = exclusive
    backend: str = ""                  # "" for Cluster; the selector for Local
    ports: frozenset[str] = frozenset()  # "80/TCP"


def _sharing_problem(existing: Claim, new: Claim) -> str | None:
    if not existing.sharing:
        return "existing service does not allow sharing"
    if not new.sharing:
        return "new service does not allow sharing"
    if existing.sharing != new.sharing:
        return f"sharing key {new.sharing!r} does not match existing sharing key " \
               f"{existing.sharing!r}"
    if existing.backend != new.backend:
        return f"backend key {new.backend!r} does not match existing sharing key " \
               f"{existing.backend!r}"
    return None


@dataclass
class Allocator:
    """Which Service holds which address (rebuilt from Services' status at start)."""

    pools: list[Pool] = field(default_factory=list)
    held: dict[str, tuple[int, Claim]] = field(default_factory=dict)   # service -> (ip, claim)
    users: dict[int, dict[str, Claim]] = field(default_factory=dict)   # ip -> service -> claim

    def pool_of(self, ip: int) -> Pool | None:
        return next((p for p in self.pools if ip in p), None)

    def ip_of(self, service: str) -> int | None:
        held = self.held.get(service)
        return held[0] if held else None

    def problem(self, claim: Claim, ip: int) -> str | None:
        """Why `claim` may not use `ip` now, or None."""
        if self.pool_of(ip) is None:
            return f"{ip_text(ip)} is not allowed in config"
        for other in self.users.get(ip, {}).values():
            if other.service == claim.service:
                continue
            why = _sharing_problem(other, claim)
            if why is None and (clash := sorted(other.ports & claim.ports)):
                why = f"port {clash[0]} is already in use on {ip_text(ip)!r}"
            if why:
                if self.ip_of(claim.service) == ip:
                    return f"can't change sharing key for \"{claim.service}\", address also " \
                           f"in use by {other.service}: {why}"
                return f"{ip_text(ip)} is already in use by {other.service}: {why}"
        return None

    def assign(self, claim: Claim, ip: int) -> None:
        """Give `ip` to `claim` (releasing what it held), or raise AllocationError."""
        why = self.problem(claim, ip)
        if why:
            raise AllocationError(why)
        self.release(claim.service)
        self.held[claim.service] = (ip, claim)
        self.users.setdefault(ip, {})[claim.service] = claim

    def allocate(self, claim: Claim, pool: str | None = None) -> int:
        """The first address usable by `claim`, pools in name order (or only `pool`)."""
        pools = self.pools if pool is None else [p for p in self.pools if p.name == pool]
        if pool is not None and not pools:
            raise AllocationError(f"unknown pool {pool!r}")
        for p in pools:
            for ip in p.addresses():
                if self.problem(claim, ip) is None:
                    self.assign(claim, ip)
                    return ip
        raise AllocationError("no available IPs")

    def release(self, service: str) -> int | None:
        """Forget what `service` held; returns the address if nobody else uses it now."""
        held = self.held.pop(service, None)
        if held is None:
            return None
        ip = held[0]
        users = self.users.get(ip, {})
        users.pop(service, None)
        if users:
            return None
        self.users.pop(ip, None)
        return ip
