"""ClusterIP and NodePort allocation, recorded in etcd so it survives restarts.

Every allocated address or port is one key (/registry/ranges/serviceips/<ip>,
/registry/ranges/servicenodeports/<port>) created by a transaction that fails
if the key exists: two api-servers (or two concurrent creates) can never hand
out the same one, with no lock and no in-memory bitmap to get out of date.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from typing import Any

from minikube_py.api import errors, field
from minikube_py.api.resources import SERVICES
from minikube_py.store import Storage

IP_PREFIX = "/registry/ranges/serviceips/"
PORT_PREFIX = "/registry/ranges/servicenodeports/"
_RANDOM_TRIES = 32


class RangeFull(Exception):
    """No free value left in the range."""


class Allocator:
    """Values of one range, one etcd key each."""

    def __init__(self, storage: Storage, prefix: str, candidates: range,
                 render: Callable[[int], str] = str) -> None:
        self.storage = storage
        self.prefix = prefix
        self.candidates = candidates
        self.render = render

    def key(self, value: int) -> str:
        return self.prefix + self.render(value)

    async def claim(self, value: int, owner: str) -> bool:
        """Take `value` for `owner`; False if someone has it."""
        return await self.storage.create_many([self.key(value)], owner.encode())

    async def allocate(self, owner: str) -> int:
        """A free value: random tries first (cheap when sparse), then a scan."""
        for _ in range(_RANDOM_TRIES):
            value = random.choice(self.candidates)
            if await self.claim(value, owner):
                return value
        page = await self.storage.list(self.prefix)
        taken = {item.key[len(self.prefix):] for item in page.items}
        for value in self.candidates:
            if self.render(value) not in taken and await self.claim(value, owner):
                return value
        raise RangeFull(self.prefix)

    async def release(self, values: list[int]) -> None:
        await self.storage.delete_keys([self.key(v) for v in values])


class Allocators:
    """The ClusterIP and NodePort ranges of one cluster, and the Service rules using them."""

    def __init__(self, storage: Storage, service_range: str, node_ports: tuple[int, int]
                 ) -> None:
        self.network = ipaddress.IPv4Network(service_range, strict=False)
        base = int(self.network.network_address)
        # Skip the network and broadcast addresses, as Kubernetes does.
        self.ips = Allocator(storage, IP_PREFIX, range(base + 1, base + self.network.num_addresses
                                                       - 1),
                             lambda v: str(ipaddress.IPv4Address(v)))
        self.ports = Allocator(storage, PORT_PREFIX, range(node_ports[0], node_ports[1] + 1))

    # -- ClusterIPs ------------------------------------------------------------------------

    def _ip_value(self, text: str) -> int:
        try:
            ip = ipaddress.IPv4Address(text)
        except ValueError:
            raise errors.invalid(SERVICES, "", [field.invalid(
                "spec.clusterIPs[0]", text, "must be a valid IP address, (e.g. 10.9.8.7 or "
                "2001:db8::ffff)")]) from None
        if int(ip) not in self.ips.candidates:
            raise errors.invalid(SERVICES, "", [field.invalid(
                "spec.clusterIPs[0]", text, "provided IP is not in the valid range. The range "
                f"of valid IPs is {self.network}")])
        return int(ip)

    async def cluster_ip(self, spec: dict[str, Any], owner: str, name: str) -> list[int]:
        """Fill spec.clusterIP(s); returns what was newly allocated (to undo on failure)."""
        if spec.get("type") == "ExternalName":
            return []
        requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
        if requested == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return []
        if requested:
            value = self._ip_value(requested)
            if not await self.ips.claim(value, owner):
                raise errors.invalid(SERVICES, name, [field.invalid(
                    "spec.clusterIPs", [requested],
                    "failed to allocate IP " f"{requested}: provided IP is already allocated")])
        else:
            try:
                value = await self.ips.allocate(owner)
            except RangeFull:
                raise errors.StatusError(500, "InternalError", "Internal error occurred: "
                                         "failed to allocate a serviceIP: range is full") \
                    from None
        ip = str(ipaddress.IPv4Address(value))
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        return [value]

    # -- NodePorts -------------------------------------------------------------------------

    @staticmethod
    def wants_node_ports(spec: dict[str, Any]) -> bool:
        return spec.get("type") in ("NodePort", "LoadBalancer")

    async def node_ports(self, spec: dict[str, Any], owner: str, name: str,
                         keep: set[int]) -> list[int]:
        """Give every port a nodePort (honouring requested ones); `keep` are ports this
        Service already holds. Returns the newly allocated ports."""
        if not self.wants_node_ports(spec):
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
            spec.pop("healthCheckNodePort", None)
            return []
        new: list[int] = []
        try:
            for i, port in enumerate(spec.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                wanted = port.get("nodePort")
                if wanted and wanted in keep:
                    continue
                if wanted:
                    await self._claim_port(wanted, owner, name, f"spec.ports[{i}].nodePort")
                    new.append(wanted)
                else:
                    port["nodePort"] = await self._allocate_port(owner)
                    new.append(port["nodePort"])
            new += await self._health_check_port(spec, owner, name, keep)
        except BaseException:
            await self.ports.release(new)
            raise
        return new

    async def _health_check_port(self, spec: dict[str, Any], owner: str, name: str,
                                 keep: set[int]) -> list[int]:
        """spec.healthCheckNodePort of a LoadBalancer with externalTrafficPolicy Local
        (honoured if given, else allocated); dropped for any other Service."""
        if spec.get("type") != "LoadBalancer" or spec.get("externalTrafficPolicy") != "Local":
            spec.pop("healthCheckNodePort", None)
            return []
        wanted = spec.get("healthCheckNodePort")
        if wanted and wanted in keep:
            return []
        if wanted:
            await self._claim_port(wanted, owner, name, "spec.healthCheckNodePort")
            return [wanted]
        spec["healthCheckNodePort"] = await self._allocate_port(owner)
        return [spec["healthCheckNodePort"]]

    async def _claim_port(self, wanted: Any, owner: str, name: str, path: str) -> None:
        """Take a port a client asked for, or raise the 422 Kubernetes gives."""
        if not isinstance(wanted, int) or wanted not in self.ports.candidates:
            raise errors.invalid(SERVICES, name, [field.invalid(
                path, wanted, "provided port is not in the valid range. The range of valid "
                f"ports is {self.ports.candidates.start}-{self.ports.candidates.stop - 1}")])
        if not await self.ports.claim(wanted, owner):
            raise errors.invalid(SERVICES, name, [field.invalid(
                path, wanted, "provided port is already allocated")])

    async def _allocate_port(self, owner: str) -> int:
        try:
            return await self.ports.allocate(owner)
        except RangeFull:
            raise errors.StatusError(500, "InternalError", "Internal error occurred: failed "
                                     "to allocate a nodePort: range is full") from None

    @staticmethod
    def held_ports(spec: dict[str, Any]) -> set[int]:
        held = {p["nodePort"] for p in spec.get("ports") or []
                if isinstance(p, dict) and isinstance(p.get("nodePort"), int)}
        if isinstance(spec.get("healthCheckNodePort"), int):
            held.add(spec["healthCheckNodePort"])
        return held

    def held_ip(self, spec: dict[str, Any]) -> list[int]:
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            return []
        try:
            return [int(ipaddress.IPv4Address(ip))]
        except ValueError:
            return []
