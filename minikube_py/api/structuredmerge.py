"""Field ownership across writers: structured-merge-diff's Updater, on our values.

Every manager owns a set of fields. An update (create, PUT, patch) gives its manager
the fields it changed and takes them from everyone else. An apply merges the
manager's configuration into the live object, makes the manager own exactly what the
configuration sets, removes what it set last time and no longer does (unless someone
else owns it), and fails with conflicts when it would change a field another manager
owns, unless forced, which takes the fields over.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from minikube_py.api.applytypes import TypeNode
from minikube_py.api.fieldpath import FieldSet, Path
from minikube_py.api.typedwalk import (
    Comparison,
    compare,
    ensure_named_fields,
    merge,
    remove,
    same,
    to_set,
)


@dataclass(frozen=True)
class Owned:
    """One manager's fields (SMD's VersionedSet)."""

    fields: FieldSet
    api_version: str
    applied: bool


Managers = dict[str, Owned]


@dataclass(frozen=True)
class Conflict:
    manager: str
    path: Path


class Conflicts(Exception):
    def __init__(self, conflicts: list[Conflict]) -> None:
        super().__init__(f"{len(conflicts)} conflict(s)")
        self.conflicts = conflicts


def _reassign(live: dict[str, Any], new: dict[str, Any], node: TypeNode, managers: Managers,
              workflow: str, *, force: bool, ignored: FieldSet) -> tuple[Managers, Comparison]:
    """SMD's Updater.update: what the change takes from the other managers (conflicts
    unless forced), and what it removes from them."""
    changes = compare(live, new, node).without(ignored)
    touched = changes.modified.union(changes.added)
    conflicts: dict[str, FieldSet] = {}
    for name, owned in managers.items():
        if name == workflow:
            continue
        clash = owned.fields.intersection(touched)
        if not clash.empty():
            conflicts[name] = clash
    if conflicts and not force:
        raise Conflicts([Conflict(name, path) for name in sorted(conflicts)
                         for path in conflicts[name].paths()])
    result: Managers = {}
    for name, owned in managers.items():
        fields = owned.fields
        if name != workflow:
            if name in conflicts:
                fields = fields.difference(conflicts[name])
            fields = fields.difference(changes.removed)
        if not fields.empty():
            result[name] = replace(owned, fields=fields)
    return result, changes


def update(live: dict[str, Any], new: dict[str, Any], node: TypeNode, managers: Managers,
           manager: str, api_version: str, *, ignored: FieldSet | None = None) -> Managers:
    """Ownership after `manager` wrote `new` over `live` (never conflicts)."""
    ignored = ignored or FieldSet()
    result, changes = _reassign(live, new, node, managers, manager, force=True,
                                ignored=ignored)
    mine = result.get(manager)
    fields = mine.fields if mine is not None else FieldSet()
    fields = fields.difference(changes.removed).union(changes.modified).union(changes.added)
    fields = fields.recursive_difference(ignored)
    result.pop(manager, None)
    if not fields.empty():
        result[manager] = Owned(fields, api_version, False)
    return result


def apply(live: dict[str, Any], config: dict[str, Any], node: TypeNode, managers: Managers,
          manager: str, api_version: str, *, force: bool, ignored: FieldSet | None = None
          ) -> tuple[dict[str, Any] | None, Managers]:
    """The merged object (None when the live one is unchanged) and the ownership after
    `manager` applied `config`. Raises Conflicts, or TypedError for a configuration
    SMD cannot type."""
    ignored = ignored or FieldSet()
    applied = to_set(config, node, strict=True).recursive_difference(ignored)
    merged = merge(live, config, node)
    last = managers.get(manager)
    managers = dict(managers)
    managers[manager] = Owned(applied, api_version, True)
    merged = _prune(merged, node, managers, last, applied)
    result, _ = _reassign(live, merged, node, managers, manager, force=force,
                          ignored=ignored)
    return (None if same(live, merged) else merged), result


def _prune(merged: dict[str, Any], node: TypeNode, managers: Managers,
           last: Owned | None, applied: FieldSet) -> dict[str, Any]:
    """Remove what the applier set last time and not now, unless another manager (or
    its new configuration) owns it; never what it did not own."""
    if last is None or last.fields.difference(applied).empty():
        return merged  # the configuration still sets all it set: nothing to take away
    last_fields = ensure_named_fields(last.fields, node)
    pruned = remove(merged, last_fields, node)
    owned = FieldSet()
    for other in managers.values():
        owned = owned.union(other.fields)
    merged_set = ensure_named_fields(to_set(merged, node), node)
    pruned_set = ensure_named_fields(to_set(pruned, node), node)
    pruned = remove(merged, merged_set.difference(
        pruned_set.union(ensure_named_fields(owned, node))), node)
    pruned_set = ensure_named_fields(to_set(pruned, node), node)
    return remove(merged, merged_set.difference(pruned_set).intersection(last_fields), node)
