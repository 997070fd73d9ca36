"""What a Service write does to the ClusterIP and NodePort ranges.

Allocation happens before the object is written and is undone if the write
fails; what an update or delete gives up is released only after the write
succeeded, so a failed write never leaves two Services holding one port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from minikube_py.api.meta import key
from minikube_py.api.types import Object
from minikube_py.apiserver.allocators import Allocators

Undo = Callable[[], Awaitable[None]]


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


async def allocate_create(alloc: Allocators, obj: Object) -> Undo:
    """Fill clusterIP and nodePorts of a new Service; the returned undo frees them."""
    spec, owner, name = _spec(obj), key(obj), obj["metadata"]["name"]
    ips = await alloc.cluster_ip(spec, owner, name)
    try:
        ports = await alloc.node_ports(spec, owner, name, keep=set())
    except BaseException:
        await alloc.ips.release(ips)
        raise

    async def undo() -> None:
        await alloc.ips.release(ips)
        await alloc.ports.release(ports)
    return undo


async def allocate_update(alloc: Allocators, new: Object, old: Object) -> tuple[Undo, Undo]:
    """Allocate the nodePorts an update adds (the strategy's prepare_update has carried the
    clusterIP and kept nodePorts over); returns (undo, commit): undo frees the new ports if
    the write fails, commit frees dropped ones after it."""
    spec, old_spec = _spec(new), _spec(old)
    held = alloc.held_ports(old_spec)
    added = await alloc.node_ports(spec, key(new), new["metadata"]["name"], keep=held)
    dropped = sorted(held - alloc.held_ports(spec))

    async def undo() -> None:
        await alloc.ports.release(added)

    async def commit() -> None:
        await alloc.ports.release(dropped)
    return undo, commit


async def release(alloc: Allocators, obj: Object) -> None:
    """Free everything a deleted Service held."""
    spec = _spec(obj)
    await alloc.ips.release(alloc.held_ip(spec))
    await alloc.ports.release(sorted(alloc.held_ports(spec)))
