"""Field paths and sets of them, and their FieldsV1 wire form (metadata.managedFields).

A path element is one of structured-merge-diff's four: a field name (`f:spec`), the
key of an item of an associative list (`k:{"name":"nginx"}`), the value of an item
of a set (`v:"a"`) or an index (`i:0`, atomic lists never reach here). A `FieldSet`
is SMD's Set: a trie whose nodes are both members (the path itself is owned) and
parents of deeper paths; FieldsV1 writes a member that also has children as ".".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

# ("f", name) | ("k", ((key, json), ...)) | ("v", json) | ("i", index)
PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]


class InvalidFields(ValueError):
    """managedFields or FieldsV1 that do not parse."""


_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def canonical(value: Any) -> str:
    """A JSON value as one hashable text (keys sorted, 2.0 as 2), so values SMD compares
    equal are equal."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def field(name: str) -> PathElement:
    return ("f", name)


def key(fields: dict[str, Any]) -> PathElement:
    return ("k", tuple(sorted((k, canonical(v)) for k, v in fields.items())))


def value(item: Any) -> PathElement:
    return ("v", canonical(item))


def _sort_key(pe: PathElement) -> tuple[int, Any]:
    return (_RANK[pe[0]], pe[1])


def _go_string(text: str) -> str:
    """Go's %q of a string, which SMD uses to print key and set values."""
    return orjson.dumps(text).decode()


def _print_json(text: str) -> str:
    decoded = orjson.loads(text)
    return _go_string(decoded) if isinstance(decoded, str) else text


def element_string(pe: PathElement) -> str:
    """SMD's PathElement.String(): .name, [name="x",port=80], [="a"], [0]."""
    kind, payload = pe
    if kind == "f":
        return f".{payload}"
    if kind == "k":
        return "[" + ",".join(f"{name}={_print_json(v)}" for name, v in payload) + "]"
    if kind == "v":
        return f"[={_print_json(payload)}]"
    return f"[{payload}]"


def path_string(path: Path) -> str:
    return "".join(element_string(pe) for pe in path)


def encode_element(pe: PathElement) -> str:
    kind, payload = pe
    if kind == "f":
        return f"f:{payload}"
    if kind == "k":
        return "k:{" + ",".join(f"{canonical(name)}:{v}" for name, v in payload) + "}"
    if kind == "v":
        return f"v:{payload}"
    return f"i:{payload}"


def decode_element(text: str) -> PathElement:
    """One FieldsV1 key; InvalidFields when it is none of the four forms."""
    kind, sep, rest = text.partition(":")
    if not sep:
        raise InvalidFields(f"invalid path element {text!r}")
    if kind == "f":
        return ("f", rest)
    if kind == "i":
        if not rest.lstrip("-").isdigit():
            raise InvalidFields(f"invalid index {rest!r}")
        return ("i", int(rest))
    try:
        decoded = orjson.loads(rest)
    except orjson.JSONDecodeError as e:
        raise InvalidFields(f"invalid path element {text!r}: {e}") from None
    if kind == "v":
        return value(decoded)
    if kind == "k" and isinstance(decoded, dict) and decoded:
        return key(decoded)
    raise InvalidFields(f"invalid path element {text!r}")


class FieldSet:
    """A set of paths (SMD's fieldpath.Set). Built by `insert`, then never changed:
    operations return new sets that share untouched subtrees with their inputs."""

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}

    # -- building -------------------------------------------------------------------------

    def child(self, pe: PathElement) -> FieldSet:
        node = self.children.get(pe)
        if node is None:
            node = self.children[pe] = FieldSet()
        return node

    def insert(self, path: Path) -> None:
        node = self
        for pe in path[:-1]:
            node = node.child(pe)
        node.members.add(path[-1])

    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    # -- queries --------------------------------------------------------------------------

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node is not None else None
        return node is not None and path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet | None:
        return self.children.get(pe)

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member, shallow members first, each level in SMD's sort order."""
        for pe in sorted(self.members, key=_sort_key):
            yield prefix + (pe,)
        for pe in sorted(self.children, key=_sort_key):
            yield from self.children[pe].paths(prefix + (pe,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return set(self.paths()) == set(other.paths())

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.paths()) + ")"

    # -- algebra --------------------------------------------------------------------------

    def _bare(self) -> bool:
        return not self.members and not self.children

    def union(self, other: FieldSet) -> FieldSet:
        if other._bare():
            return self
        if self._bare():
            return other
        out = FieldSet()
        out.members = self.members | other.members
        out.children = dict(self.children)
        for pe, theirs in other.children.items():
            mine = out.children.get(pe)
            out.children[pe] = theirs if mine is None else mine.union(theirs)
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.members = self.members & other.members
        for pe, mine in self.children.items():
            theirs = other.children.get(pe)
            if theirs is not None:
                both = mine.intersection(theirs)
                if not both.empty():
                    out.children[pe] = both
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        """Members not in `other`; children minus `other`'s children at the same place."""
        if other._bare():
            return self
        out = FieldSet()
        out.members = self.members - other.members
        for pe, mine in self.children.items():
            theirs = other.children.get(pe)
            rest = mine.difference(theirs) if theirs is not None else mine
            if not rest.empty():
                out.children[pe] = rest
        return out

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """As difference, but a member of `other` also removes everything under it."""
        if other._bare():
            return self
        out = FieldSet()
        out.members = self.members - other.members
        for pe, mine in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            rest = mine.recursive_difference(theirs) if theirs is not None else mine
            if not rest.empty():
                out.children[pe] = rest
        return out

    # -- FieldsV1 -------------------------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pe in sorted(self.members | self.children.keys(), key=_sort_key):
            node = self.children.get(pe)
            if node is None or node.empty():
                out[encode_element(pe)] = {}
                continue
            inner = node.to_fields_v1()
            if pe in self.members:
                inner = {".": {}, **inner}
            out[encode_element(pe)] = inner
        return out

    @classmethod
    def from_fields_v1(cls, data: Any) -> FieldSet:
        """InvalidFields unless `data` is a FieldsV1 object."""
        if not isinstance(data, dict):
            raise InvalidFields("fieldsV1 must be an object")
        out = cls()
        for text, inner in data.items():
            if text == ".":
                continue
            pe = decode_element(text)
            if not isinstance(inner, dict):
                raise InvalidFields(f"fieldsV1 entry {text!r} must be an object")
            if not inner or "." in inner:
                out.members.add(pe)
            if any(k != "." for k in inner):
                child = cls.from_fields_v1(inner)
                if not child.empty():
                    out.children[pe] = child
        return out
