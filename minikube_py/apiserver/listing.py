"""LIST: a consistent snapshot of one scope, filtered, in pages.

Every page of one list is read at the same etcd revision (the continue token
carries it), so paging through a changing collection never shows an object
twice or skips one; a token older than the last compaction is 410. Selectors
are applied here, reading more from etcd until the page is full.

A list without `limit` (or with resourceVersion=0, which kube serves whole) is
answered from the watch cache when it can: at once for resourceVersion=0, after
etcd confirms the cache current otherwise (store/watch_cache.py).
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from minikube_py.api.selectors import FieldSelector, LabelSelector
from minikube_py.api.types import Object
from minikube_py.apiserver import codec, listoptions, views
from minikube_py.apiserver.objects import (
    decode_item,
    parse_resource_version,
    resource_prefix,
    scope_prefix,
    served_as,
    with_version,
)
from minikube_py.apiserver.state import METRICS, OBJECTS, WATCH_CACHE
from minikube_py.apiserver.tables import to_table
from minikube_py.apiserver.target import Target
from minikube_py.store import Item

_CHUNK = 500
# Selectable fields that are always JSON strings where they are stored.
_STRING_FIELDS = frozenset({"metadata.name", "spec.nodeName", "status.phase"})


def _compact(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Filter:
    """labelSelector + fieldSelector of one list or watch request."""

    labels: LabelSelector
    fields: FieldSelector
    resource: Resource

    @classmethod
    def from_request(cls, request: web.Request, resource: Resource) -> Filter:
        labels = LabelSelector.parse(request.query.get("labelSelector"))
        fields = FieldSelector.parse(request.query.get("fieldSelector"))
        fields.check_supported(strategy_for(resource).supported_fields)
        return cls(labels, fields, resource)

    @property
    def everything(self) -> bool:
        return self.labels.is_everything and self.fields.is_everything

    @functools.cached_property
    def needles(self) -> tuple[tuple[bytes, ...], ...]:
        """Byte strings a matching object's stored JSON must contain (one of each tuple).

        Stored objects are compact JSON from one encoder, so `app=web` can only match an
        object whose bytes hold `"app":"web"`: most non-matching objects are skipped
        without being parsed. A hit still goes through `matches`.
        """
        def pair(key: str, value: str) -> bytes:
            return _compact(key) + b":" + _compact(value)
        out = []
        for r in self.labels.requirements or ():  # None: the "nothing" selector
            if r.operator in ("=", "==", "in"):
                out.append(tuple(pair(r.key, v) for v in r.values))
            elif r.operator == "exists":
                out.append((_compact(r.key) + b":",))
        for f in self.fields.requirements:
            if f.operator == "=" and f.value and f.field in _STRING_FIELDS:
                out.append((pair(f.field.rsplit(".", 1)[1], f.value),))
        return tuple(out)

    def matches_stored(self, value: bytes) -> bool:
        """`matches` for stored bytes, parsing only what the needles let through."""
        if not all(any(n in value for n in group) for group in self.needles):
            return False
        return self.matches(orjson.loads(value))

    def matches(self, obj: Object) -> bool:
        meta = obj.get("metadata") or {}
        if not self.labels.matches(meta.get("labels") or {}):
            return False
        if self.fields.is_everything:
            return True
        return self.fields.matches(strategy_for(self.resource).field_values(obj))

    def narrow_namespace(self, namespace: str | None) -> str | None:
        """An all-namespaces request selecting metadata.namespace=x reads only x."""
        if namespace or not self.resource.namespaced:
            return namespace
        return self.fields.value_of("metadata.namespace") or None


def encode_continue(revision: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        revision, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start "
                                 "resourceVersion (version meta.k8s.io/v1)") from None
    if not start.startswith(prefix) or revision <= 0:
        raise errors.bad_request("continue key is not valid: key does not match the request")
    return revision, start


async def list_items(app: web.Application, resource: Resource, namespace: str | None,
                     flt: Filter, *, limit: int = 0, token: str | None = None,
                     revision: int = 0) -> tuple[list[Item], int, str]:
    """The stored items that match, (items, revision, continue token or "")."""
    store = app[OBJECTS]
    namespace = flt.narrow_namespace(namespace)
    start: str | None = None
    if token:
        revision, start = decode_continue(token, scope_prefix(resource, namespace))
    out: list[Item] = []
    while True:
        want = max(limit - len(out), 0)
        chunk = 0 if not limit else (want if flt.everything else max(want, _CHUNK))
        try:
            items, revision, more = await store.list(resource, namespace, revision=revision,
                                                     limit=chunk, start=start)
        except errors.StatusError as e:
            if e.code == 410 and token:
                raise errors.expired("The provided continue parameter is too old to display a "
                                     "consistent list result. You can start a new list "
                                     "without the continue parameter.") from None
            raise
        for i, item in enumerate(items):
            if not flt.everything and not flt.matches_stored(item.value):
                continue
            out.append(item)
            if limit and len(out) == limit:
                if i + 1 < len(items) or more:
                    return out, revision, encode_continue(revision, item.key + "\0")
                return out, revision, ""
        if not more or not items:
            return out, revision, ""
        start = items[-1].key + "\0"


async def whole_list(app: web.Application, resource: Resource, namespace: str | None,
                     flt: Filter, resource_version: str) -> tuple[list[Item], int]:
    """Every matching item, as a list with `resource_version` ("0": any, else at least
    current): from the watch cache when it can answer, else from etcd."""
    namespace = flt.narrow_namespace(namespace)
    prefix = resource_prefix(resource)
    cached = await app[WATCH_CACHE].list(prefix, scope_prefix(resource, namespace),
                                         consistent=resource_version != "0")
    if cached is None:
        items, revision, _ = await list_items(app, resource, namespace, flt)
        return items, revision
    app[METRICS].cache_lists[prefix.removeprefix("/registry").rstrip("/")] += 1
    items, revision = cached
    if resource.custom:
        items = [i._replace(value=served_as(resource, i.value)) for i in items]
    if not flt.everything:
        items = [i for i in items if flt.matches_stored(i.value)]
    return items, revision


async def list_objects(app: web.Application, resource: Resource, namespace: str | None,
                       flt: Filter, *, limit: int = 0, token: str | None = None,
                       revision: int = 0) -> tuple[list[Object], int, str]:
    """As list_items, decoded."""
    items, revision, token = await list_items(app, resource, namespace, flt, limit=limit,
                                              token=token, revision=revision)
    return [decode_item(i) for i in items], revision, token


async def list_handler(request: web.Request, target: Target) -> web.Response:
    resource = target.resource
    flt = Filter.from_request(request, resource)
    limit = codec.query_int(request, "limit") or 0
    if limit < 0:
        raise errors.bad_request("limit must not be negative")
    options = listoptions.from_request(request, watch=False)
    rv = options.resource_version
    exact = options.match == listoptions.EXACT
    token = options.continue_token or None
    if not exact and not token and (rv == "0" or not limit):
        items, revision = await whole_list(request.app, resource, target.namespace, flt, rv)
        token = ""
    else:
        revision = parse_resource_version(rv) if exact else 0
        items, revision, token = await list_items(request.app, resource, target.namespace,
                                                  flt, limit=limit, token=token,
                                                  revision=revision)
    list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if token:
        list_meta["continue"] = token
    view = views.negotiate(request, views.LIST_VIEWS)
    if view is not None:
        objs = [decode_item(i) for i in items]
        kind, version = view
        return codec.json_response(
            views.partial_list(objs, version, list_meta) if kind == views.PARTIAL_LIST
            else to_table(request, resource, objs, version, list_meta))
    # The items go out as stored, resourceVersion spliced in: no parse, no re-encode.
    head = codec.dumps({"kind": resource.list_kind, "apiVersion": resource.api_version,
                        "metadata": list_meta})[:-1]
    body = b"".join((head, b',"items":[',
                     b",".join(with_version(i.value, i.mod_revision) for i in items), b"]}"))
    return codec.raw_json_response(body)
