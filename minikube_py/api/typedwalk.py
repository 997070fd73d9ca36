"""Walks over an object and its `applytypes` type, as structured-merge-diff's typed
package does: the set of fields a value sets, the fields two values differ in, the
merge of an applied configuration into the live object, and the removal of fields.

Values are plain JSON (dict, list, scalars). Inputs are never modified.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api.applytypes import ATOMIC, MAP, TypeNode
from minikube_py.api.fieldpath import FieldSet, Path, PathElement, key, path_string, value

MISSING: Any = object()


class TypedError(ValueError):
    """An applied configuration SMD cannot type (a duplicate key, a keyless item)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path_string(path)}: {message}" if path else message)
        self.path, self.message = path, message


def same(a: Any, b: Any) -> bool:
    """JSON equality (True is not 1; 1 is 1.0), as SMD's value.Equals."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and \
            all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return a == b and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


def _kind(v: Any) -> str:
    return "map" if isinstance(v, dict) else "list" if isinstance(v, list) else "scalar"


def item_element(item: Any, node: TypeNode, path: Path, index: int, *,
                 strict: bool) -> PathElement:
    """The path element of a list item: its key, its value, or (a live object SMD
    could not type, when not `strict`) its index."""
    try:
        if node.list_type() == MAP:
            if not isinstance(item, dict):
                raise TypedError(path, "associative list with keys may not have non-map "
                                       "elements")
            names = node.keys()
            fields = {name: item.get(name, default) for name, default in names.items()
                      if name in item or default is not None}
            if not fields:  # a key left out names another item; all left out is an error
                listed = "[" + " ".join(f'"{n}"' for n in names) + "]"
                raise TypedError(path, f"element {index}: associative list with keys has an "
                                       f"element that omits all key fields {listed} (and "
                                       "doesn't have default values for any key fields)")
            return key(fields)
        if isinstance(item, dict):
            raise TypedError(path, "associative list without keys has an element that's a "
                                   "map type")
        if isinstance(item, list):
            raise TypedError(path, "not supported: associative list with lists as elements")
        return value(item)
    except TypedError:
        if strict:
            raise
        return ("i", index)


# -- the fields a value sets -----------------------------------------------------------------

def to_set(obj: dict[str, Any], node: TypeNode, *, strict: bool = False) -> FieldSet:
    """SMD's ToFieldSet: every scalar, atomic value, map entry and list item set."""
    out = FieldSet()
    _map_set(obj, node, (), out, strict)
    return out


def _set_of(v: Any, node: TypeNode, path: Path, out: FieldSet, strict: bool) -> None:
    if isinstance(v, dict):
        if node.map_atomic():
            out.insert(path)
        else:
            _map_set(v, node, path, out, strict)
    elif isinstance(v, list):
        if node.list_type() == ATOMIC:
            out.insert(path)
            return
        item_node, seen, duplicates = node.item(), set(), set()
        elements = [item_element(item, node, path, i, strict=strict) for i, item in enumerate(v)]
        for pe in elements:
            if pe in seen and pe not in duplicates:
                if strict:
                    raise TypedError(path, f"duplicate entries for key {path_string((pe,))}")
                out.insert(path + (pe,))
                duplicates.add(pe)
            seen.add(pe)
        for pe, item in zip(elements, v):
            if pe not in duplicates:
                _set_of(item, item_node, path + (pe,), out, strict)
                out.insert(path + (pe,))
    else:
        out.insert(path)


def _map_set(v: dict[str, Any], node: TypeNode, path: Path, out: FieldSet,
             strict: bool) -> None:
    for name, child in v.items():
        child_path = path + (("f", name),)
        _set_of(child, node.field(name), child_path, out, strict)
        if child is None or child == {} or not node.has_field(name):
            out.insert(child_path)


# -- what changed between two values ---------------------------------------------------------

@dataclass
class Comparison:
    removed: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    added: FieldSet = field(default_factory=FieldSet)

    def same(self) -> bool:
        return self.removed.empty() and self.modified.empty() and self.added.empty()

    def without(self, ignored: FieldSet) -> Comparison:
        if ignored.empty():
            return self
        return Comparison(self.removed.recursive_difference(ignored),
                          self.modified.recursive_difference(ignored),
                          self.added.recursive_difference(ignored))


def compare(lhs: dict[str, Any], rhs: dict[str, Any], node: TypeNode) -> Comparison:
    """SMD's Compare of the live object (lhs) with the new one (rhs)."""
    out = Comparison()
    _compare(lhs, rhs, node, (), out)
    return out


def _insert(target: FieldSet, path: Path) -> None:
    if path:
        target.insert(path)


def _compare(lhs: Any, rhs: Any, node: TypeNode, path: Path, out: Comparison) -> None:
    if lhs is not MISSING and rhs is not MISSING and _kind(lhs) != _kind(rhs):
        _insert(out.modified, path)
        return
    kind = _kind(rhs if rhs is not MISSING else lhs)
    leaf = kind == "scalar"
    if kind == "map":
        left = lhs if lhs is not MISSING else {}
        right = rhs if rhs is not MISSING else {}
        leaf = node.map_atomic() or (not left and not right)
        if not leaf:
            for name in {**left, **right}:
                _compare(left.get(name, MISSING), right.get(name, MISSING), node.field(name),
                         path + (("f", name),), out)
    elif kind == "list":
        left = lhs if lhs is not MISSING else []
        right = rhs if rhs is not MISSING else []
        leaf = node.list_type() == ATOMIC or (not left and not right)
        if not leaf:
            _compare_items(left, right, node, path, out)
    if lhs is MISSING:
        _insert(out.added, path)
    elif rhs is MISSING:
        _insert(out.removed, path)
    elif leaf and not same(lhs, rhs):
        _insert(out.modified, path)


def _group(items: list[Any], node: TypeNode, path: Path) -> dict[PathElement, list[Any]]:
    grouped: dict[PathElement, list[Any]] = {}
    for i, item in enumerate(items):
        grouped.setdefault(item_element(item, node, path, i, strict=False), []).append(item)
    return grouped


def _compare_items(lhs: list[Any], rhs: list[Any], node: TypeNode, path: Path,
                   out: Comparison) -> None:
    left, right = _group(lhs, node, path), _group(rhs, node, path)
    item_node = node.item()
    for pe in {**left, **right}:
        lvals, rvals = left.get(pe, []), right.get(pe, [])
        here = path + (pe,)
        if len(lvals) <= 1 and len(rvals) <= 1:
            _compare(lvals[0] if lvals else MISSING, rvals[0] if rvals else MISSING,
                     item_node, here, out)
        elif len(lvals) >= 2 and len(rvals) >= 2:
            if not same(lvals, rvals):
                out.modified.insert(here)
        elif len(lvals) >= 2:
            if rvals:
                _compare(MISSING, rvals[0], item_node, here, out)
            out.removed.insert(here)
        else:
            if lvals:
                _compare(lvals[0], MISSING, item_node, here, out)
            out.added.insert(here)


# -- merging an applied configuration into the live object -----------------------------------

def merge(live: dict[str, Any], config: dict[str, Any], node: TypeNode) -> dict[str, Any]:
    """SMD's Merge: the configuration's values win; granular maps merge by key and
    associative lists by item, keeping live items in place and config items in the
    configuration's order. A field the configuration sets to null is dropped."""
    merged: dict[str, Any] = _merge(live, config, node, ())
    return merged


def _merge(lhs: Any, rhs: Any, node: TypeNode, path: Path) -> Any:
    if rhs is MISSING:
        return lhs
    if rhs is None and isinstance(lhs, (dict, list)):
        return lhs  # null merges nothing into a map or list (it only claims the field)
    if lhs is MISSING or _kind(lhs) != _kind(rhs) or _kind(rhs) == "scalar":
        return _without_nulls(rhs)
    if isinstance(rhs, dict):
        if node.map_atomic() or (not lhs and not rhs):
            return _without_nulls(rhs)
        out = {}
        for name in {**lhs, **rhs}:
            merged = _merge(lhs.get(name, MISSING), rhs.get(name, MISSING),
                            node.field(name), path + (("f", name),))
            if merged is not None and merged is not MISSING:
                out[name] = merged
        return out
    if node.list_type() == ATOMIC or (not lhs and not rhs):
        return copy.deepcopy(rhs)
    return _merge_items(lhs, rhs, node, path)


def _without_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    return copy.deepcopy(v)


def _merge_items(lhs: list[Any], rhs: list[Any], node: TypeNode, path: Path) -> list[Any]:
    """SMD's visitListItems, order included."""
    item_node = node.item()
    rhs_pes = [item_element(item, node, path, i, strict=True) for i, item in enumerate(rhs)]
    observed_rhs: dict[PathElement, Any] = {}
    for pe, item in zip(rhs_pes, rhs):
        if pe in observed_rhs:
            raise TypedError(path, f"duplicate entries for key {path_string((pe,))}")
        observed_rhs[pe] = item
    lhs_pes = [item_element(item, node, path, i, strict=False) for i, item in enumerate(lhs)]
    observed_lhs: dict[PathElement, Any] = {}
    for pe, item in zip(lhs_pes, lhs):
        observed_lhs[pe] = MISSING if pe in observed_lhs else item
    shared = [pe for pe in rhs_pes if pe in observed_lhs]
    next_shared = 0
    merged_rhs: set[PathElement] = set()
    out: list[Any] = []
    li = ri = 0

    def take(pe: PathElement, left: Any, right: Any) -> None:
        out.append(_merge(left, right, item_node, path + (pe,)))

    while li < len(lhs_pes) or ri < len(rhs_pes):
        if li < len(lhs_pes) and ri < len(rhs_pes):
            pe = lhs_pes[li]
            if pe == rhs_pes[ri]:
                merged_rhs.add(pe)
                take(pe, observed_lhs[pe], observed_rhs[pe])
                li, ri = li + 1, ri + 1
                next_shared += 1 if next_shared < len(shared) else 0
                continue
            if pe in observed_rhs and next_shared < len(shared) and shared[next_shared] != pe:
                li += 1
                continue
        if li < len(lhs_pes):
            pe = lhs_pes[li]
            if pe not in observed_rhs:
                take(pe, lhs[li], MISSING)
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < len(rhs_pes):
            pe = rhs_pes[ri]
            merged_rhs.add(pe)
            take(pe, observed_lhs.get(pe, MISSING), observed_rhs[pe])
            ri += 1
            if next_shared < len(shared) and shared[next_shared] == pe:
                next_shared += 1
    return out


# -- removing fields -------------------------------------------------------------------------

def remove(obj: dict[str, Any], fields: FieldSet, node: TypeNode) -> dict[str, Any]:
    """SMD's RemoveItems: `obj` without the members of `fields` (and what is under them);
    a map or list left empty by it disappears."""
    out = _remove(obj, fields, node, ())
    return out if out is not MISSING else {}


def _remove(v: Any, fields: FieldSet, node: TypeNode, path: Path) -> Any:
    if isinstance(v, dict):
        if not v or node.map_atomic():
            return v
        out = {}
        for name, child in v.items():
            pe = ("f", name)
            if pe in fields.members:
                continue
            sub = fields.children.get(pe)
            if sub is not None:
                child = _remove(child, sub, node.field(name), path + (pe,))
                if child is MISSING:
                    continue
            out[name] = child
        return out if out else MISSING
    if isinstance(v, list):
        if not v or node.list_type() == ATOMIC:
            return v
        items = []
        for i, item in enumerate(v):
            pe = item_element(item, node, path, i, strict=False)
            if pe in fields.members:
                continue
            sub = fields.children.get(pe)
            if sub is not None:
                item = _remove(item, sub, node.item(), path + (pe,))
                if item is MISSING:
                    continue
            items.append(item)
        return items if items else MISSING
    return v


def ensure_named_fields(fields: FieldSet, node: TypeNode) -> FieldSet:
    """SMD's EnsureNamedFieldsAreMembers: a struct field with owned children is itself a
    member (so pruning can take the whole field away)."""
    out = FieldSet()
    out.members = set(fields.members)
    for pe, child in fields.children.items():
        if pe[0] == "f":
            if node.has_field(pe[1]):
                out.members.add(pe)
            out.children[pe] = ensure_named_fields(child, node.field(pe[1]))
        elif pe[0] == "k":
            out.children[pe] = ensure_named_fields(child, node.item())
        else:
            out.children[pe] = child
    return out
