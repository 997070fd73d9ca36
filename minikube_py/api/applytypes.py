"""What a field is to server-side apply: which lists are atomic, sets or maps by key,
which maps and structs are owned whole. SMD reads this from the OpenAPI schema.

Built-in kinds: the definitions in api/data give structs and maps, and the
`patchmeta` table of strategic merge patch gives the lists (merge with a key: an
associative list; merge without one: a set; anything else: atomic), as Kubernetes'
`+listType` tags mostly mirror `patchStrategy`. Custom kinds: the CRD's structural
schema (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`). A field no schema
declares is "deduced", as SMD does: maps are granular, lists atomic.
"""

from __future__ import annotations

import functools
from typing import Any

from minikube_py.api import patchmeta, resources
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from minikube_py.api.schema import definition_name, definitions

ATOMIC, SET, MAP = "atomic", "set", "map"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_CORE = "io.k8s.api.core.v1."
# Go structs tagged +structType=atomic: owned (and replaced by apply) as one value.
ATOMIC_STRUCTS = frozenset({
    _META + "LabelSelector", _CORE + "ObjectReference", _CORE + "LocalObjectReference",
    _CORE + "TypedLocalObjectReference", _CORE + "ObjectFieldSelector",
    _CORE + "ResourceFieldSelector", _CORE + "ConfigMapKeySelector",
    _CORE + "SecretKeySelector", _CORE + "NodeSelector", _CORE + "NodeSelectorTerm",
    _CORE + "TopologySelectorTerm"})
# Maps tagged +mapType=atomic.
_ATOMIC_MAPS: dict[Resource, frozenset[tuple[str, ...]]] = {
    resources.SERVICES: frozenset({("spec", "selector")}),
    resources.REPLICATIONCONTROLLERS: frozenset({("spec", "selector")}),
}
# Associative lists keyed by more than their strategic merge key (+listMapKey), with the
# default a missing key takes.
_PORT_KEYS = {"containerPort": None, "protocol": "TCP"}
_EXTRA_KEYS: dict[str, dict[str, Any]] = {"containerPort": _PORT_KEYS}
_SERVICE_PORT_KEYS = {"port": None, "protocol": "TCP"}


class TypeNode:
    """A value no schema describes (SMD's deduced type)."""

    def field(self, name: str) -> TypeNode:
        """The type of `name` in this map or struct."""
        return DEDUCED

    def has_field(self, name: str) -> bool:
        """Whether `name` is a declared struct field (not a map entry or unknown)."""
        return False

    def item(self) -> TypeNode:
        return DEDUCED

    def map_atomic(self) -> bool:
        return False

    def list_type(self) -> str:
        return ATOMIC

    def keys(self) -> dict[str, Any]:
        """The keys of an associative list, each with its default (None: required)."""
        return {}


DEDUCED = TypeNode()


def _resolve(schema: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(schema, dict):
        return "", {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return name, definitions().get(name, {})
    return "", schema


class BuiltinNode(TypeNode):
    """A place in a built-in kind: its OpenAPI definition and its path for patchmeta.
    Children are made once and kept: every write walks the same few hundred places."""

    __slots__ = ("_children", "_item", "_keys", "_list_type", "name", "path", "resource",
                 "schema")

    def __init__(self, resource: Resource, path: tuple[str, ...], schema: Any) -> None:
        self.resource, self.path = resource, path
        self.name, self.schema = _resolve(schema)
        self._children: dict[str, TypeNode] = {}
        self._item: TypeNode | None = None
        self._list_type: str | None = None
        self._keys: dict[str, Any] | None = None

    def field(self, name: str) -> TypeNode:
        found = self._children.get(name)
        if found is None:
            found = self._children[name] = self._field(name)
        return found

    def _field(self, name: str) -> TypeNode:
        props = self.schema.get("properties")
        if isinstance(props, dict) and name in props:
            return BuiltinNode(self.resource, self.path + (name,), props[name])
        extra = self.schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            shared = self._children.get("*")  # every entry of a map has one type
            if shared is None:
                shared = self._children["*"] = BuiltinNode(self.resource, self.path + ("*",),
                                                           extra)
            return shared
        return DEDUCED

    def has_field(self, name: str) -> bool:
        props = self.schema.get("properties")
        return isinstance(props, dict) and name in props

    def item(self) -> TypeNode:
        if self._item is None:
            items = self.schema.get("items")
            self._item = BuiltinNode(self.resource, self.path, items) \
                if isinstance(items, dict) else DEDUCED
        return self._item

    def map_atomic(self) -> bool:
        return self.name in ATOMIC_STRUCTS or \
            self.path in _ATOMIC_MAPS.get(self.resource, frozenset())

    def _meta(self) -> patchmeta.ListMeta | None:
        return patchmeta.list_meta(self.resource, self.path)

    def list_type(self) -> str:
        if self._list_type is None:
            meta = self._meta()
            if meta is None or "merge" not in meta.strategy.split(","):
                self._list_type = ATOMIC
            else:
                self._list_type = MAP if meta.key else SET
        return self._list_type

    def keys(self) -> dict[str, Any]:
        if self._keys is None:
            meta = self._meta()
            if meta is None or not meta.key:
                self._keys = {}
            elif self.resource is resources.SERVICES and self.path == ("spec", "ports"):
                self._keys = dict(_SERVICE_PORT_KEYS)
            else:
                self._keys = dict(_EXTRA_KEYS.get(meta.key, {meta.key: None}))
        return self._keys


class SchemaNode(TypeNode):
    """A place in a CRD's structural schema."""

    __slots__ = ("root", "schema")

    def __init__(self, schema: dict[str, Any], *, root: bool = False) -> None:
        self.schema, self.root = schema, root

    def field(self, name: str) -> TypeNode:
        if (self.root or self.schema.get("x-kubernetes-embedded-resource") is True) \
                and name == "metadata":
            return object_meta()
        props = self.schema.get("properties")
        if isinstance(props, dict) and isinstance(props.get(name), dict):
            return SchemaNode(props[name])
        extra = self.schema.get("additionalProperties")
        if isinstance(extra, dict):
            return SchemaNode(extra)
        return DEDUCED

    def has_field(self, name: str) -> bool:
        props = self.schema.get("properties")
        return isinstance(props, dict) and name in props or (self.root and name == "metadata")

    def item(self) -> TypeNode:
        items = self.schema.get("items")
        return SchemaNode(items) if isinstance(items, dict) else DEDUCED

    def map_atomic(self) -> bool:
        return self.schema.get("x-kubernetes-map-type") == "atomic"

    def list_type(self) -> str:
        kind = self.schema.get("x-kubernetes-list-type")
        if kind == MAP and self.keys():
            return MAP
        return SET if kind == SET else ATOMIC

    def keys(self) -> dict[str, Any]:
        names = self.schema.get("x-kubernetes-list-map-keys")
        if not isinstance(names, list):
            return {}
        items = self.schema.get("items")
        props = items.get("properties") if isinstance(items, dict) else None
        props = props if isinstance(props, dict) else {}
        return {str(n): props[n].get("default") if isinstance(props.get(n), dict)
                else None for n in names}


@functools.cache
def object_meta() -> TypeNode:
    return BuiltinNode(resources.CONFIGMAPS, ("metadata",), {"$ref": _META + "ObjectMeta"})


def root(resource: Resource) -> TypeNode:
    """The type of a whole object of `resource`."""
    if resource.custom:
        schema = getattr(strategy_for(resource), "schema", None)
        return SchemaNode(schema if isinstance(schema, dict) else {}, root=True)
    return _builtin_root(resource)


@functools.cache
def _builtin_root(resource: Resource) -> TypeNode:
    schema = definitions().get(definition_name(resource))
    if schema is None:
        return _EnvelopeOnly()
    return BuiltinNode(resource, (), schema)


class _EnvelopeOnly(TypeNode):
    """A kind without a definition: only its metadata is typed."""

    def field(self, name: str) -> TypeNode:
        return object_meta() if name == "metadata" else DEDUCED

    def has_field(self, name: str) -> bool:
        return name == "metadata"
