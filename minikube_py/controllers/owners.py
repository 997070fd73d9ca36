"""Claiming (Kubernetes' ControllerRefManager): a controller owns the objects
whose controller ownerReference names it; it adopts matching orphans and
releases owned objects whose labels stopped matching its selector.

Before its first adoption the owner is read live (Kubernetes' canAdopt /
RecheckDeletionTimestamp): an owner that our cache still holds but that was
deleted, or replaced by another of the same name, must not adopt, or the
garbage collector would take what it adopted with it."""

from __future__ import annotations

import logging

from minikube_py.api.meta import join_key, owner_of, owner_reference
from minikube_py.api.resources import Resource, for_kind
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import Conflict, NotFound

log = logging.getLogger(__name__)


class CannotAdopt(Exception):
    """The owner is gone or going: the sync fails and is retried once the cache knows."""


async def _check_can_adopt(client: ApiClient, owner: Object) -> None:
    meta = owner["metadata"]
    resource = for_kind(owner.get("apiVersion", ""), owner.get("kind", ""))
    if resource is None:
        raise CannotAdopt(f"{owner.get('kind')} is not served")
    try:
        fresh = await client.get(resource, meta["name"], meta.get("namespace"))
    except NotFound as e:
        raise CannotAdopt(f"{resource.kind} {meta.get('namespace')}/{meta['name']} "
                          "is gone") from e
    if fresh["metadata"].get("uid") != meta.get("uid"):
        raise CannotAdopt(f"original {resource.kind} {meta.get('namespace')}/{meta['name']} "
                          f"is gone: got uid {fresh['metadata'].get('uid')}, "
                          f"wanted {meta.get('uid')}")
    if fresh["metadata"].get("deletionTimestamp"):
        raise CannotAdopt(f"{meta.get('namespace')}/{meta['name']} has just been deleted at "
                          f"{fresh['metadata']['deletionTimestamp']}")


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
    """The candidates `owner` controls after adopting and releasing; CannotAdopt
    when there is an orphan to adopt but the owner is no longer there."""
    owner_uid = owner["metadata"].get("uid")
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    claimed = []
    rechecked = False
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
            if not rechecked:
                await _check_can_adopt(client, owner)
                rechecked = True
            adopted = await _set_refs(client, resource, obj, refs + [owner_reference(owner)])
            if adopted is not None:
                log.info("adopted %s=%s/%s owner=%s", resource.kind, meta.get("namespace"),
                         meta["name"], owner["metadata"]["name"])
                claimed.append(adopted)
    return claimed


def controller_key(obj: Object, kind: str) -> str | None:
    """'namespace/name' of the object's controller when it is a `kind`: the key an
    owned object's event enqueues."""
    ref = owner_of(obj)
    if ref is None or ref.get("kind") != kind:
        return None
    return join_key(obj["metadata"]["namespace"], ref["name"])
