"""Strategic merge patch, applied as kube-apiserver applies it.

A port of apimachinery's strategicpatch.mergeMap with MergeParallelList and
IgnoreUnmatchedNulls on (the server-side options): lists named in
`patchmeta` merge by key, everything else follows JSON merge patch, and the
directives `$patch` (replace/delete/merge), `$retainKeys`,
`$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` steer it.
Directives never reach the stored object. Bad patches raise `PatchError`
with `code` 400 (malformed) or 422 (well-formed but inapplicable).
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from minikube_py.api.patchmeta import Path, list_meta
from minikube_py.api.resources import Resource

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"


class PatchError(ValueError):
    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


class Schema(Protocol):
    """Patch metadata at one place in a document (apimachinery's LookupPatchMeta)."""

    def child(self, key: str) -> Schema:
        """The schema of the map or list elements under `key`."""

    def list_rule(self, key: str) -> tuple[str, str]:
        """("merge", mergeKey) for merging lists ("" key for primitives), else ("replace", "")."""

    def replaces_map(self, key: str) -> bool:
        """True for maps tagged patchStrategy "replace"."""


class ResourceSchema:
    """Patch metadata of one of our kinds, from `patchmeta`, by path from the root."""

    def __init__(self, resource: Resource | None, path: Path = ()) -> None:
        self.resource, self.path = resource, path

    def child(self, key: str) -> ResourceSchema:
        return ResourceSchema(self.resource, self.path + (key,))

    def list_rule(self, key: str) -> tuple[str, str]:
        meta = list_meta(self.resource, self.path + (key,))
        if meta is None:
            return "replace", ""
        return ("merge" if "merge" in meta.strategy.split(",") else "replace"), meta.key or ""

    def replaces_map(self, key: str) -> bool:
        return False


def strategic_merge(original: dict[str, Any], patch: dict[str, Any],
                    schema: Schema) -> dict[str, Any]:
    """The patched copy of `original`; neither argument is modified."""
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def _merge_map(original: dict[str, Any] | None, patch: dict[str, Any],
               schema: Schema) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            replaced: dict[str, Any] = _strip(patch)
            return replaced
        if directive == "delete":
            return {}
        if directive != "merge":
            raise PatchError(f"Unknown patch type: {directive!r} in map: {patch}")
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, schema)
    for key, patch_value in list(patch.items()):
        is_delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE):
            key = key[len(DELETE_FROM_PRIMITIVE):]
            is_delete_list = True
            if not key:
                raise PatchError("invalid patch: $deleteFromPrimitiveList needs a list name")
            if not isinstance(patch_value, list):
                raise PatchError(f"invalid patch: $deleteFromPrimitiveList/{key} must be a list")
        elif key.startswith("$"):
            raise PatchError(f"unknown directive {key!r} in patch")
        if patch_value is None:
            original.pop(key, None)
            continue
        if key not in original:
            if not is_delete_list:
                kept = _strip_value(patch_value)
                if kept is not _DROP:
                    original[key] = kept
            continue
        current = original[key]
        if type(current) is not type(patch_value) or not isinstance(current, (dict, list)):
            if not is_delete_list:
                kept = _strip_value(patch_value)
                if kept is _DROP:
                    del original[key]
                else:
                    original[key] = kept
            continue
        if isinstance(current, dict):
            if schema.replaces_map(key):
                original[key] = _strip(patch_value)
            else:
                original[key] = _merge_map(current, patch_value, schema.child(key))
        else:
            strategy, merge_key = schema.list_rule(key)
            if strategy == "merge" or is_delete_list:
                original[key] = _merge_list(current, patch_value, schema.child(key), merge_key,
                                            is_delete_list)
            else:
                original[key] = _strip(patch_value)
    return original


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keep = patch.pop(RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch: $retainKeys must be a list")
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE, SET_ORDER)):
            continue
        if key not in keep:
            raise PatchError("doesn't match the retainKeys: all keys in the patch must be in "
                             "the $retainKeys list", 422)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any],
                             schema: Schema) -> None:
    for directive_key in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive_key)
        key = directive_key[len(SET_ORDER):]
        if not key or not isinstance(order, list):
            raise PatchError("invalid patch: $setElementOrder must name a list and hold a list")
        strategy, merge_key = schema.list_rule(key)
        in_original, in_patch = key in original, key in patch
        if in_patch and not isinstance(patch[key], list) or (
                in_original and not isinstance(original[key], list)):
            raise PatchError(f"invalid patch: {key} must be a list to be ordered")
        _check_order(patch.get(key) or [], order, merge_key)
        server_order = original.get(key) or []
        if in_original and not in_patch:
            merged = original[key]
        elif in_patch and not in_original:
            merged = _strip(patch[key])
        elif in_patch and in_original:
            if strategy == "merge":
                merged, server_order = _merge_list_with_order(
                    original[key], patch[key], schema.child(key), merge_key, False)
            else:
                merged = _strip(patch[key])
        else:
            continue
        ordered, server_only = _partition(merged, order, merge_key)
        original[key] = _normalize(ordered, server_only, order, server_order, merge_key)
        patch.pop(key, None)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    items = [i for i in patch_list if not (isinstance(i, dict) and DIRECTIVE in i)]
    p = o = 0
    while p < len(items) and o < len(order):
        if _key_of(items[p], merge_key) == _key_of(order[o], merge_key):
            p += 1
        o += 1
    if p < len(items):
        raise PatchError(f"The order in patch list: {patch_list} doesn't match "
                         f"$setElementOrder list: {order}")


_DROP = object()


def _strip_value(value: Any) -> Any:
    """apimachinery's removeDirectives: a map holding `$patch` disappears."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return _DROP
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and (k.startswith((SET_ORDER, DELETE_FROM_PRIMITIVE))
                                       or k == RETAIN_KEYS):
                continue
            kept = _strip_value(v)
            if kept is not _DROP:
                out[k] = kept
        return out
    if isinstance(value, list):
        return [kept for kept in (_strip_value(v) for v in value) if kept is not _DROP]
    return value


def _strip(value: Any) -> Any:
    kept = _strip_value(value)
    return {} if kept is _DROP else kept


def _element_kind(*lists: list[Any]) -> type | None:
    kind: type | None = None
    for items in lists:
        for item in items:
            if isinstance(item, list):
                raise PatchError("lists of lists are not supported", 422)
            if kind is None:
                kind = type(item)
            elif kind is not type(item) and not (_is_number(item) and kind in (int, float)):
                raise PatchError("list element types are not identical", 422)
    return kind


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _merge_list(original: list[Any], patch: list[Any], schema: Schema, merge_key: str,
                is_delete_list: bool) -> list[Any]:
    return _merge_list_with_order(original, patch, schema, merge_key, is_delete_list)[0]


def _merge_list_with_order(original: list[Any], patch: list[Any], schema: Schema,
                           merge_key: str, is_delete_list: bool) -> tuple[list[Any], list[Any]]:
    """The merged list, and the live order a $setElementOrder around it must respect.

    Upstream deletes from and appends to the live slice in place, so the order
    it later compares against is the merged list cut to the live list's length;
    we reproduce that, since clients' expectations were recorded against it.
    """
    if not original and not patch:
        return original, original
    kind = _element_kind(original, patch)
    live_length = len(original)
    if kind is not dict:
        if is_delete_list:
            kept = [v for v in original if v not in patch]
            return kept, original
        merged: list[Any] = []
        for value in original + patch:
            if value not in merged:
                merged.append(value)
        server_order = original
    else:
        if not merge_key:
            raise PatchError("cannot merge lists of objects without a merge key", 422)
        original, patch = _special_elements(original, patch, merge_key)
        merged = _merge_maps_by_key(original, patch, schema, merge_key)
        server_order = merged[:live_length] if len(original) < live_length else original
    ordered, server_only = _partition(merged, patch, merge_key)
    return _normalize(ordered, server_only, patch, original, merge_key), server_order


def _special_elements(original: list[Any], patch: list[Any],
                      merge_key: str) -> tuple[list[Any], list[Any]]:
    plain, replace = [], False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}",
                                 422)
            original = [o for o in original if o.get(merge_key) != item[merge_key]]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"Unknown patch type: {directive!r} in map: {item}")
    if replace:
        return [_strip(p) for p in plain], []
    return original, plain


def _merge_maps_by_key(original: list[Any], patch: list[Any], schema: Schema,
                       merge_key: str) -> list[Any]:
    original = list(original)  # the live order must survive for _normalize
    for item in patch:
        if merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}", 422)
        for i, existing in enumerate(original):
            if not isinstance(existing, dict):
                raise PatchError(f"value for key {i} is not a map", 422)
            if existing.get(merge_key) == item[merge_key] and merge_key in existing:
                original[i] = _merge_map(existing, item, schema)
                break
        else:
            kept = _strip_value(item)
            if kept is not _DROP:
                original.append(kept)
    return original


def _key_of(item: Any, merge_key: str) -> Any:
    if merge_key:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}", 422)
        return _hashable(item[merge_key])
    return _hashable(item)


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else (type(value) is bool, value)


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    wanted = {_key_of(i, merge_key) for i in by
              if not (merge_key and isinstance(i, dict) and DIRECTIVE in i)}
    in_patch = [i for i in merged if _key_of(i, merge_key) in wanted]
    server_only = [i for i in merged if _key_of(i, merge_key) not in wanted]
    return in_patch, server_only


def _normalize(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
               server_order: list[Any], merge_key: str) -> list[Any]:
    """normalizeElementOrder: patch order wins, server-only items keep their live places."""
    def position(order: list[Any]) -> dict[Any, int]:
        return {_key_of(v, merge_key): i for i, v in reversed(list(enumerate(order)))
                if not (merge_key and isinstance(v, dict) and DIRECTIVE in v)}

    patch_pos, server_pos = position(patch_order), position(server_order)
    patch_items = sorted(patch_items, key=lambda v: patch_pos.get(_key_of(v, merge_key),
                                                                  len(patch_pos)))
    server_only = sorted(server_only, key=lambda v: server_pos.get(_key_of(v, merge_key),
                                                                   len(server_pos)))
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            result.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            result.append(server_only[i])
            i += 1
        else:
            left = server_pos.get(_key_of(server_only[i], merge_key))
            right = server_pos.get(_key_of(patch_items[j], merge_key))
            if left is not None and right is not None and left < right:
                result.append(server_only[i])
                i += 1
            else:
                result.append(patch_items[j])
                j += 1
    return result
