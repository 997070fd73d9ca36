"""What the scheduler needs from a pod, computed once per pod rather than once per
node: its resource requests, host ports, owner and placement constraints.

Per-node filtering then touches only integers and small tuples, which is what
keeps one decision over a thousand nodes within a millisecond or two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from minikube_py.api.meta import key as object_key
from minikube_py.api.podaffinity import NONE, PodAffinity, compile_affinity
from minikube_py.api.quantity import cpu_millis, to_bytes
from minikube_py.api.types import Container, Object, PodSpec, Toleration

# Kubernetes' non-zero defaults for scoring pods that request nothing
# (pkg/scheduler/util: DefaultMilliCPURequest, DefaultMemoryRequest).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


@dataclass(slots=True)
class PodInfo:
    """The scheduling-relevant facts of one pod."""

    key: str
    uid: str
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    affinity: PodAffinity = NONE  # inter-pod (anti-)affinity terms
    cpu: int = 0
    memory: int = 0
    nonzero_cpu: int = DEFAULT_MILLI_CPU
    nonzero_memory: int = DEFAULT_MEMORY
    host_ports: tuple[HostPort, ...] = ()
    owner_uid: str = ""
    priority: int = 0
    created: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    required_terms: list[Object] | None = None
    preferred_terms: list[Object] = field(default_factory=list)
    tolerations: list[Toleration] = field(default_factory=list)
    claims: tuple[str, ...] = ()  # persistentVolumeClaim volumes' claim names


def _container_requests(container: Container) -> tuple[int, int, bool, bool]:
    """(cpu millis, memory bytes, cpu given, memory given); limits stand in for
    missing requests, as API defaulting does in Kubernetes."""
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    cpu = requests.get("cpu", limits.get("cpu"))
    memory = requests.get("memory", limits.get("memory"))
    return (
        cpu_millis(cpu) if cpu is not None else 0,
        to_bytes(memory) if memory is not None else 0,
        cpu is not None,
        memory is not None,
    )


def _requests(spec: PodSpec) -> tuple[int, int, int, int]:
    """(cpu, memory, nonzero cpu, nonzero memory): max(sum of containers,
    largest init container) plus overhead, like Kubernetes' PodRequests."""
    cpu = memory = nz_cpu = nz_memory = 0
    for container in spec.get("containers") or []:
        c, m, has_c, has_m = _container_requests(container)
        cpu += c
        memory += m
        nz_cpu += c if has_c else DEFAULT_MILLI_CPU
        nz_memory += m if has_m else DEFAULT_MEMORY
    for container in spec.get("initContainers") or []:
        c, m, _, _ = _container_requests(container)
        cpu, memory = max(cpu, c), max(memory, m)
        nz_cpu, nz_memory = max(nz_cpu, c), max(nz_memory, m)
    overhead = spec.get("overhead") or {}
    if "cpu" in overhead:
        extra = cpu_millis(overhead["cpu"])
        cpu, nz_cpu = cpu + extra, nz_cpu + extra
    if "memory" in overhead:
        extra = to_bytes(overhead["memory"])
        memory, nz_memory = memory + extra, nz_memory + extra
    return cpu, memory, nz_cpu, nz_memory


def _host_ports(spec: PodSpec) -> tuple[HostPort, ...]:
    ports = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            host_port = port.get("hostPort")
            if host_port:
                ports.append(
                    (port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP",
                     int(host_port))
                )
    return tuple(ports)


def controller_uid(obj: Object) -> str:
    """The uid of the owner with controller=true, or ""."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid", ""))
    return ""


def pod_info(pod: Object) -> PodInfo:
    """Digest a pod for scheduling; raises ValueError on a malformed quantity or selector."""
    spec: PodSpec = pod.get("spec") or {}
    meta = pod["metadata"]
    cpu, memory, nz_cpu, nz_memory = _requests(spec)
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return PodInfo(
        key=object_key(pod),
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        labels=dict(meta.get("labels") or {}),
        affinity=compile_affinity(spec.get("affinity"), str(meta.get("namespace", ""))),
        cpu=cpu,
        memory=memory,
        nonzero_cpu=nz_cpu,
        nonzero_memory=nz_memory,
        host_ports=_host_ports(spec),
        owner_uid=controller_uid(pod),
        priority=int(spec.get("priority") or 0),
        created=str(meta.get("creationTimestamp", "")),
        node_selector=dict(spec.get("nodeSelector") or {}),
        required_terms=(required or {}).get("nodeSelectorTerms") if required else None,
        preferred_terms=list(
            node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ),
        tolerations=list(spec.get("tolerations") or []),
        claims=tuple(str(v["persistentVolumeClaim"].get("claimName", ""))
                     for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim")),
    )
