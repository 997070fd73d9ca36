"""Claiming (Kubernetes' ControllerRefManager): a controller owns the objects
whose controller ownerReference names it; it adopts matching orphans and
releases owned objects whose labels stopped matching its selector."""

from __future__ import annotations

import logging

from minikube_py.api.meta import owner_of, owner_reference
from minikube_py.api.resources import Resource
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import Conflict, NotFound

log = logging.getLogger(__name__)


async def _set_refs(client: ApiClient, resource: Resource, obj: Object, refs: list[Object]) -> Object | None:
    meta = obj["metadata"]
    patch = {"metadata": {"ownerReferences": refs, "uid": meta.get("uid")}}
    try:
        return await client.patch(resource, meta["name"], patch, meta.get("namespace"),
                                  patch_type="merge")
    except (NotFound, Conflict):
        return None  # gone or changed: the next sync looks again


async def claim(client: ApiClient, resource: Resource, owner: Object, candidates: list[Object],
                selector: LabelSelector) -> list[Object]:
    """The candidates `owner` controls after adopting and releasing."""
    owner_uid = owner["metadata"].get("uid")
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    claimed = []
    for obj in candidates:
        meta = obj["metadata"]
        matches = selector.matches(meta.get("labels"))
        ref = owner_of(obj)
        refs = list(meta.get("ownerReferences") or [])
        if ref is not None and ref.get("uid") == owner_uid:
            if matches or deleting:
                claimed.append(obj)
                continue
            log.info("releasing %s=%s/%s owner=%s", resource.kind, meta.get("namespace"),
                     meta["name"], owner["metadata"]["name"])
            await _set_refs(client, resource, obj, [r for r in refs if r.get("uid") != owner_uid])
        elif ref is None and matches and not deleting and not meta.get("deletionTimestamp"):
            adopted = await _set_refs(client, resource, obj, refs + [owner_reference(owner)])
            if adopted is not None:
                log.info("adopted %s=%s/%s owner=%s", resource.kind, meta.get("namespace"),
                         meta["name"], owner["metadata"]["name"])
                claimed.append(adopted)
    return claimed
