"""A LIST read in pages of `limit` items and assembled, as client-go's tools/pager does
for the reflector.

Every page comes from the snapshot the first one was read at (the continue token
carries its revision), so the pages make one consistent list and a watch may start at
its resourceVersion. A whole list is held twice at its peak, as JSON and as decoded
objects; in pages only one page is, and `transform` slims each page before the next
arrives, so the unslimmed list never exists at once. If that snapshot is compacted away
mid-way (410 on a continue), the pages so far are dropped and the list is read again in
one request, as client-go's FullListIfExpired: paging again from the start could lose the
race with compaction forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.client.errors import Gone

log = logging.getLogger(__name__)

PAGE_SIZE = 500  # client-go's pager.defaultPageSize
Transform = Callable[[Object], Object]


class Lister(Protocol):
    """The part of ApiClient a paged list needs."""

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> Object: ...


@dataclass(frozen=True)
class Listed:
    """One whole list: its items (transformed) and the resourceVersion to watch from."""

    items: list[Object]
    resource_version: str
    pages: int


async def list_all(client: Lister, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   page_size: int = PAGE_SIZE, transform: Transform | None = None) -> Listed:
    """Every item of one list, read `page_size` at a time (0: in one request)."""
    items: list[Object] = []
    resource_version = ""
    token: str | None = None
    pages = 0
    while True:
        try:
            page = await client.list(resource, namespace, label_selector=label_selector,
                                     field_selector=field_selector,
                                     limit=page_size or None, continue_token=token)
        except Gone as e:
            if token is None:
                raise
            log.info("list snapshot expired after %d pages, listing whole resource=%s "
                     "error=%s", pages, resource.plural, e)
            page = await client.list(resource, namespace, label_selector=label_selector,
                                     field_selector=field_selector)
            return Listed(_items(page, transform), _meta(page, "resourceVersion"), pages + 1)
        pages += 1
        if token is None:
            resource_version = _meta(page, "resourceVersion")
        items += _items(page, transform)
        token = _meta(page, "continue") or None
        if token is None:
            return Listed(items, resource_version, pages)


def _items(page: Object, transform: Transform | None) -> list[Object]:
    items: list[Object] = list(page.get("items") or [])
    return [transform(o) for o in items] if transform is not None else items


def _meta(page: Object, name: str) -> str:
    return str((page.get("metadata") or {}).get(name) or "")
