"""Kubernetes objects on top of the key-value store.

Keys are /registry/<plural>/<namespace>/<name> (cluster-scoped:
/registry/<plural>/<name>). The stored JSON carries no resourceVersion: it is
the key's mod_revision, put back into metadata on every read, so it can never
disagree with etcd. Storage errors become metav1.Status errors here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from minikube_py.api import errors
from minikube_py.api.registry import converter_for
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.store import (
    Conflict,
    Expired,
    Item,
    KeyExists,
    KeyNotFound,
    NoSpace,
    Storage,
    StorageError,
    Unavailable,
    Undecryptable,
)

REGISTRY = "/registry"


def resource_prefix(resource: Resource) -> str:
    return f"{REGISTRY}/{resource.storage_name}/"


def scope_prefix(resource: Resource, namespace: str | None) -> str:
    """The key prefix of a list: one namespace, or the whole resource."""
    if resource.namespaced and namespace:
        return f"{REGISTRY}/{resource.storage_name}/{namespace}/"
    return resource_prefix(resource)


def object_key(resource: Resource, namespace: str | None, name: str) -> str:
    if resource.namespaced:
        return f"{REGISTRY}/{resource.storage_name}/{namespace}/{name}"
    return f"{REGISTRY}/{resource.storage_name}/{name}"


_API_VERSION = b'{"apiVersion":"'


def served_as(resource: Resource, value: bytes) -> bytes:
    """An object stored through one version, as read through `resource`'s.

    The versions of a CRD differ in apiVersion only (conversion strategy None), and
    `encode` writes apiVersion first, so only that prefix is rewritten; a built-in kind
    served in several versions (autoscaling v1/v2) is converted when stored through
    another one than asked for.
    """
    if not converted(resource) or not value.startswith(_API_VERSION):
        return value
    end = value.find(b'"', len(_API_VERSION))
    wanted = resource.api_version.encode()
    if end < 0 or value[len(_API_VERSION):end] == wanted:
        return value
    convert = converter_for(resource)
    if convert is not None:
        return encode(convert(orjson.loads(value), resource.api_version))
    return _API_VERSION + wanted + value[end:]


def converted(resource: Resource) -> bool:
    """Whether reads of `resource` go through `served_as` (more than one version)."""
    return resource.custom or converter_for(resource) is not None


def key_of(resource: Resource, obj: Object) -> str:
    meta = obj["metadata"]
    return object_key(resource, meta.get("namespace"), meta["name"])


def encode(obj: Object) -> bytes:
    """Stored form: the object without its resourceVersion, and apiVersion, kind and
    metadata as the first keys (so `with_version` can find metadata without parsing)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    ordered = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": meta}
    ordered.update((k, v) for k, v in obj.items() if k not in ordered)
    return orjson.dumps(ordered)


def decode(value: bytes, revision: int) -> Object:
    obj: Object = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


_METADATA = b'"metadata":{'


def with_version(value: bytes, revision: int) -> bytes:
    """The stored JSON with metadata.resourceVersion spliced in, without a parse.

    `encode` puts metadata right after apiVersion and kind, and a quote inside a JSON
    string is always escaped, so the first `"metadata":{` not preceded by another `{`
    is the object's own metadata. Anything else takes the slow, exact path.
    """
    at = value.find(_METADATA)
    if at > 0 and value.find(b"{", 1, at) == -1:
        empty = value[at + len(_METADATA)] == 0x7D  # "metadata":{} needs no comma
        spliced = b'"metadata":{"resourceVersion":"%d"%s' % (revision, b"" if empty else b",")
        return value.replace(_METADATA, spliced, 1)
    return orjson.dumps(decode(value, revision))


def _versioned(obj: Object, revision: int) -> Object:
    """The object just written, as a read would return it (no re-parse of what we encoded)."""
    obj["metadata"]["resourceVersion"] = str(revision)
    return obj


def decode_item(item: Item) -> Object:
    return decode(item.value, item.mod_revision)


def unavailable(e: StorageError) -> errors.StatusError:
    return errors.StatusError(503, "ServiceUnavailable", f"etcd is unavailable: {e}")


@contextmanager
def status_errors(resource: Resource, name: str) -> Iterator[None]:
    """Translate storage errors for one object into metav1.Status errors."""
    try:
        yield
    except KeyNotFound:
        raise errors.not_found(resource, name) from None
    except KeyExists:
        raise errors.already_exists(resource, name) from None
    except Conflict:
        raise errors.conflict(resource, name) from None
    except Expired as e:
        raise errors.expired(f"The resourceVersion for the provided watch is too old: {e}") \
            from None
    except Unavailable as e:
        raise unavailable(e) from None
    except NoSpace as e:  # kube-apiserver: a 500 with etcd's error as the message, no reason
        raise errors.StatusError(500, "", str(e)) from None
    except Undecryptable as e:  # kube-apiserver's words: a wrong or missing key
        raise errors.internal_error(str(e)) from None


def parse_resource_version(value: object) -> int:
    """A client-supplied resourceVersion: "" / None -> 0; garbage -> 400."""
    if value is None or value == "":
        return 0
    if not isinstance(value, str):
        raise errors.bad_request(f"invalid resource version {value!r}: must be a string")
    try:
        rv = int(value)
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{value}"') from None
    if rv < 0:
        raise errors.bad_request(f'invalid resource version "{value}"')
    return rv


class ObjectStore:
    """Create/get/list/update/delete of whole objects, with Status errors.

    `ttls` makes a kind's objects expire (Events: kube-apiserver's --event-ttl), through
    etcd leases attached on every write.
    """

    def __init__(self, storage: Storage, ttls: dict[Resource, int] | None = None) -> None:
        self.storage = storage
        self.ttls = ttls or {}

    async def get_item(self, resource: Resource, namespace: str | None, name: str) -> Item:
        with status_errors(resource, name):
            item = await self.storage.get(object_key(resource, namespace, name))
        return item._replace(value=served_as(resource, item.value)) if converted(resource) \
            else item

    async def get(self, resource: Resource, namespace: str | None, name: str) -> Object:
        return decode_item(await self.get_item(resource, namespace, name))

    async def create(self, resource: Resource, obj: Object) -> Object:
        data = encode(obj)
        with status_errors(resource, obj["metadata"]["name"]):
            revision = await self.storage.create(key_of(resource, obj), data,
                                                 ttl=self.ttls.get(resource, 0))
        return _versioned(obj, revision)

    async def update(self, resource: Resource, obj: Object, expected: int) -> Object:
        """Write `obj` if the stored one is still at revision `expected` (else 409)."""
        data = encode(obj)
        with status_errors(resource, obj["metadata"]["name"]):
            revision = await self.storage.update(key_of(resource, obj), data, expected,
                                                 ttl=self.ttls.get(resource, 0))
        return _versioned(obj, revision)

    async def delete(self, resource: Resource, obj: Object, expected: int | None) -> Object:
        """Remove the object; returns it as it was, resourceVersion = the delete's."""
        with status_errors(resource, obj["metadata"]["name"]):
            item, revision = await self.storage.delete(key_of(resource, obj), expected)
        return decode(served_as(resource, item.value), revision)

    async def list(self, resource: Resource, namespace: str | None, *, revision: int = 0,
                   limit: int = 0, start: str | None = None) -> tuple[list[Item], int, bool]:
        """Raw items of one scope at one revision (decoding is left to the caller,
        who may filter first)."""
        with status_errors(resource, ""):
            page = await self.storage.list(scope_prefix(resource, namespace),
                                           revision=revision, limit=limit, start=start)
        items = [i._replace(value=served_as(resource, i.value)) for i in page.items] \
            if converted(resource) else page.items
        return items, page.revision, page.more
