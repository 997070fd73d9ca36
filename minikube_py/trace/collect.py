"""`minikube-py trace`'s I/O: resolve SRC and DST against the API, read the nodes involved
through the api-server (nodes/NAME/proxy/debug/dataplane, served by each agent), and with
`--probe` send one real connection from the source pod and read them again, so the rules
whose counters moved and the conntrack entry confirm (or correct) the computed path.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from minikube_py.api.resources import ENDPOINTS, NODES, PODS, SERVICES
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.trace.path import (
    NO_ANSWER,
    Hop,
    NodeState,
    Source,
    Trace,
    Tracer,
    counter_deltas,
    probe_hops,
)

MAX_PODS = 64  # veths looked up per node (the agent's limit)
_REPLY = re.compile(r"src=(\S+) dst=\S+ sport=(\d+) dport=\d+")


class TraceError(ValueError):
    """SRC or DST cannot be resolved; the message says why."""


@dataclass(frozen=True)
class Target:
    address: ipaddress.IPv4Address
    port: int
    proto: str
    pods: dict[str, str]  # its pods (or the Service's endpoints' pods): ns/name -> node
    unowned: frozenset[str] = frozenset()  # its addresses (or endpoints) no pod has


async def run(client: ApiClient, src: str, dst: str, probe: bool = False) -> Trace:
    nodes = (await client.list(NODES))["items"]
    pods = (await client.list(PODS))["items"]
    source, src_ns = await _source(client, src, nodes)
    target = await _target(client, dst, src_ns, pods, nodes)
    wanted = {source.node, *target.pods.values(), *_homes(nodes, target.unowned)}
    states = await _read(client, wanted, source, target)
    tracer = Tracer(states, nodes, pods)
    if not probe:
        return tracer.trace(source, target.address, target.port, target.proto)
    if not source.pod:
        raise TraceError("--probe sends from a pod: give SRC as NAMESPACE/POD")
    namespace, name = source.pod.split("/", 1)
    answer = await client.request(
        "POST", f"/api/v1/nodes/{source.node}/proxy/debug/probe",
        params={"namespace": namespace, "pod": name, "dst": str(target.address),
                "port": str(target.port)})
    after = await _read(client, wanted, source, target)
    endpoint = ""
    for line in answer.get("conntrack") or []:
        if (found := _REPLY.findall(line)) and len(found) > 1:
            endpoint = f"{found[1][0]}:{found[1][1]}"
    tracer = Tracer(after, nodes, pods, counter_deltas(states, after))
    result = tracer.trace(source, target.address, target.port, target.proto, endpoint)
    probed = probe_hops(source.node, source.pod, answer)
    result.hops.extend(probed)
    if not probed[0].detail["answered"]:
        result.outcome += f"; probe: {NO_ANSWER}"
    rules = [h for h in result.hops if h.kind == "rule" and h.counter is not None]
    counted = sum(1 for h in rules if h.counter)
    result.hops.append(Hop(source.node, "confirmed", f"{counted} of {len(rules)} rules on the "
                           "path counted packets during the probe",
                           {"counted": counted, "rules": len(rules)}))
    return result


async def _source(client: ApiClient, src: str, nodes: list[Object]) -> tuple[Source, str]:
    if src.startswith("node/"):
        name = src[5:]
        node = next((n for n in nodes if n["metadata"]["name"] == name), None)
        if node is None:
            raise TraceError(f'node "{name}" not found')
        ip = _internal_ip(node)
        return Source(node=name, ip=ipaddress.IPv4Address(ip)), "default"
    namespace, _, name = src.rpartition("/")
    namespace = namespace or "default"
    try:
        pod = await client.get(PODS, name, namespace)
    except NotFound:
        raise TraceError(f'pod "{namespace}/{name}" not found') from None
    on, pod_ip = pod["spec"].get("nodeName"), (pod.get("status") or {}).get("podIP")
    if not on or not pod_ip:
        raise TraceError(f"pod {namespace}/{name} is not running on a node with an address")
    if pod["spec"].get("hostNetwork"):
        return Source(node=on, ip=ipaddress.IPv4Address(pod_ip)), namespace
    return Source(node=on, ip=ipaddress.IPv4Address(pod_ip), pod=f"{namespace}/{name}"), \
        namespace


def _internal_ip(node: Object) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address["address"])
    raise TraceError(f"node {node['metadata']['name']} has no InternalIP")


def _split(dst: str) -> tuple[str, int | None]:
    host, sep, port = dst.rpartition(":")
    if sep and port.isdigit():
        if not 0 < int(port) < 65536:
            raise TraceError(f"port {port} is not in 1-65535")
        return host, int(port)
    return dst, None


async def _target(client: ApiClient, dst: str, namespace: str, pods: list[Object],
                  nodes: list[Object]) -> Target:
    what, port = _split(dst)
    try:
        address = ipaddress.IPv4Address(what)
    except ValueError:
        pass
    else:
        if port is None:
            raise TraceError("an address needs a port: ADDRESS:PORT")
        owner = next((p for p in pods if (p.get("status") or {}).get("podIP") == what
                      and not p["spec"].get("hostNetwork")), None)
        if owner is None and any(_internal_ip(n) == what for n in nodes):
            return await _node_port_target(client, address, port, pods)
        return Target(address, port, "tcp", _placed([owner] if owner else []),
                      frozenset() if owner else frozenset({what}))
    kind, _, rest = what.partition("/") if what.startswith(("svc/", "pod/")) else ("", "", what)
    ns, _, name = rest.rpartition("/")
    ns = ns or namespace
    if kind != "pod":
        try:
            service = await client.get(SERVICES, name, ns)
        except NotFound:
            if kind == "svc":
                raise TraceError(f'service "{ns}/{name}" not found') from None
        else:
            return await _service_target(client, service, port, pods)
    pod = next((p for p in pods if p["metadata"]["namespace"] == ns
                and p["metadata"]["name"] == name), None)
    if pod is None or not (pod.get("status") or {}).get("podIP"):
        raise TraceError(f'no service or running pod "{ns}/{name}"')
    if port is None:
        ports = [p for c in pod["spec"].get("containers") or [] for p in c.get("ports") or []]
        if not ports:
            raise TraceError(f"pod {ns}/{name} declares no port: give POD:PORT")
        port = int(ports[0]["containerPort"])
    return Target(ipaddress.IPv4Address(pod["status"]["podIP"]), port, "tcp", _placed([pod]))


async def _service_target(client: ApiClient, service: Object, port: int | None,
                          pods: list[Object]) -> Target:
    spec, meta = service.get("spec") or {}, service["metadata"]
    cluster_ip = spec.get("clusterIP")
    if not cluster_ip or cluster_ip == "None":
        raise TraceError(f"service {meta['namespace']}/{meta['name']} has no cluster IP")
    ports = spec.get("ports") or []
    chosen = next((p for p in ports if port is None or p.get("port") == port), None)
    if chosen is None:
        raise TraceError(f"service {meta['namespace']}/{meta['name']} has no port {port}")
    try:  # the Endpoints the proxy follows: a selectorless Service's have no slices here
        endpoints = await client.get(ENDPOINTS, meta["name"], meta["namespace"])
    except NotFound:
        endpoints = {}
    addresses = {a["ip"] for s in endpoints.get("subsets") or []
                 for a in s.get("addresses") or [] if a.get("ip")}
    owners = [p for p in pods if (p.get("status") or {}).get("podIP") in addresses]
    return Target(ipaddress.IPv4Address(cluster_ip), int(chosen["port"]),
                  str(chosen.get("protocol", "TCP")).lower(), _placed(owners),
                  frozenset(addresses - {p["status"]["podIP"] for p in owners}))


async def _node_port_target(client: ApiClient, address: ipaddress.IPv4Address, port: int,
                            pods: list[Object]) -> Target:
    """A node's address and port: the Service with that nodePort, if any, is what its
    rules send to, so its endpoints' nodes are the ones to read."""
    for service in (await client.list(SERVICES))["items"]:
        for p in (service.get("spec") or {}).get("ports") or []:
            if p.get("nodePort") == port:
                found = await _service_target(client, service, p.get("port"), pods)
                return Target(address, port, found.proto, found.pods, found.unowned)
    return Target(address, port, "tcp", {})


def _homes(nodes: list[Object], addresses: frozenset[str]) -> set[str]:
    """The nodes whose pod CIDR holds one of these addresses: where a packet to an
    address no pod has (a dead endpoint) ends, so their state is read too."""
    ips = [ipaddress.IPv4Address(a) for a in addresses if _is_ipv4(a)]
    return {node["metadata"]["name"] for node in nodes
            if _is_ipv4(cidr := str((node.get("spec") or {}).get("podCIDR") or ""), net=True)
            and any(ip in ipaddress.IPv4Network(cidr) for ip in ips)}


def _is_ipv4(text: str, net: bool = False) -> bool:
    try:
        ipaddress.IPv4Network(text) if net else ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _placed(pods: list[Object]) -> dict[str, str]:
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["spec"]["nodeName"]
            for p in pods if p["spec"].get("nodeName")}


async def _read(client: ApiClient, names: set[str], source: Source,
                target: Target) -> dict[str, NodeState]:
    """Every node's snapshot at once, each with the pods of interest on it."""
    placed = {**target.pods, **({source.pod: source.node} if source.pod else {})}

    async def one(name: str) -> NodeState:
        here = sorted(key for key, node in placed.items() if node == name)[:MAX_PODS]
        raw: dict[str, Any] = await client.request(
            "GET", f"/api/v1/nodes/{name}/proxy/debug/dataplane",
            params={"pods": ",".join(here)})
        return NodeState(name, raw)

    states = await asyncio.gather(*(one(n) for n in sorted(names)))
    return {s.name: s for s in states}
