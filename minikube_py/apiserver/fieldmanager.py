"""metadata.managedFields on every write, and server-side apply, as kube-apiserver's
field manager chain does it (apimachinery/pkg/util/managedfields/internal).

Managers are identified as Kubernetes does (manager name, operation, and for
updates the apiVersion, plus the subresource), so "kubectl" applying and
"kubectl" updating are two owners. A write that is not an apply records its changes
under its Update manager (the `fieldManager` parameter, else the User-Agent's prefix)
and never fails because of ownership: undecodable managedFields are dropped, as
UpdateNoErrors does. An apply answers conflicts with 409 and kube-apiserver's message.
"""

from __future__ import annotations

import copy
import json
import logging
import unicodedata
from dataclasses import dataclass
from typing import Any

from minikube_py.api import applytypes, errors
from minikube_py.api.fieldpath import FieldSet, InvalidFields, field, path_string
from minikube_py.api.meta import now_rfc3339
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from minikube_py.api.structuredmerge import Conflict, Conflicts, Managers, Owned, apply, update
from minikube_py.api.typedwalk import TypedError, compare, to_set
from minikube_py.api.types import Object

log = logging.getLogger(__name__)

MAX_MANAGER_LENGTH = 128
MAX_UPDATE_MANAGERS = 10
ANCIENT = "ancient-changes"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# What no manager owns (stripMetaManager): the envelope and server-set metadata.
_STRIPPED = FieldSet.of(
    (field("apiVersion"),), (field("kind"),), (field("metadata"),),
    *((field("metadata"), field(name)) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
        "generation", "managedFields", "resourceVersion")))
_CURRENT = "current-operation"


@dataclass(frozen=True)
class Writer:
    """Who writes, through which subresource."""

    manager: str
    subresource: str | None = None


def options_invalid(kind: str, name: str, message: str, reason: str) -> errors.StatusError:
    return errors.StatusError(
        422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: {name}: {message}',
        {"group": "meta.k8s.io", "kind": kind,
         "causes": [{"reason": reason, "message": message, "field": name}]})


def manager_problems(manager: str, kind: str) -> None:
    """422 for a fieldManager longer than 128 characters or holding unprintable ones."""
    if len(manager) > MAX_MANAGER_LENGTH:
        raise options_invalid(kind, "fieldManager", f"Too long: may not be more than "
                               f"{MAX_MANAGER_LENGTH} bytes", "FieldValueTooLong")
    for i, char in enumerate(manager):
        if not char.isprintable():
            raise options_invalid(
                kind, "fieldManager", f'Invalid value: "{manager}": invalid character '
                f"U+{ord(char):04X} (at position {i})", "FieldValueInvalid")


def user_agent_prefix(user_agent: str) -> str:
    """kube-apiserver's prefixFromUserAgent: up to the first '/', printable, 128 max."""
    out = ""
    for char in user_agent.split("/", 1)[0]:
        if not char.isprintable() or unicodedata.category(char) == "Zl":
            continue
        if len((out + char).encode()) > MAX_MANAGER_LENGTH:
            break
        out += char
    return out


def writer(query_manager: str, user_agent: str, subresource: str | None, *,
           kind: str) -> Writer:
    """The manager of a create/update/patch (`kind`: CreateOptions, UpdateOptions...)."""
    manager_problems(query_manager, kind)
    return Writer(query_manager or user_agent_prefix(user_agent), subresource)


def identifier(manager: str, operation: str, api_version: str,
               subresource: str | None) -> str:
    """BuildManagerIdentifier: the entry's JSON without fields and time; appliers keep
    one identity across versions."""
    entry: dict[str, str] = {"manager": manager or "unknown", "operation": operation}
    if operation == "Update":
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return json.dumps(entry, separators=(",", ":"))


def printed(ident: str) -> str:
    """printManager: how a conflict names its manager."""
    try:
        entry = json.loads(ident)
    except ValueError:
        return json.dumps(ident)
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f' with subresource "{entry["subresource"]}"'
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


# -- the wire form -------------------------------------------------------------------------

@dataclass
class Managed:
    managers: Managers
    times: dict[str, str]


def decode(entries: Any) -> Managed:
    """metadata.managedFields -> ownership; ValueError for anything malformed."""
    managed = Managed({}, {})
    if entries is None:
        return managed
    if not isinstance(entries, list):
        raise InvalidFields("managedFields must be a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise InvalidFields("a managedFields entry must be an object")
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise InvalidFields(f"invalid operation {operation!r}")
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise InvalidFields(f"invalid fieldsType {entry.get('fieldsType')!r}")
        manager, version = entry.get("manager", ""), entry.get("apiVersion", "")
        subresource = entry.get("subresource") or None
        if not isinstance(manager, str) or not isinstance(version, str) \
                or not isinstance(subresource, (str, type(None))):
            raise InvalidFields("manager, apiVersion and subresource must be strings")
        ident = identifier(manager, operation, version, subresource)
        if ident in managed.managers:
            raise InvalidFields(f"duplicate manager {ident}")
        fields = FieldSet.from_fields_v1(entry.get("fieldsV1") or {})
        managed.managers[ident] = Owned(fields, version, operation == "Apply")
        if isinstance(entry.get("time"), str):
            managed.times[ident] = entry["time"]
    return managed


def encode(managed: Managed) -> list[Object]:
    """Entries in kube-apiserver's order: operation, time, manager, apiVersion."""
    out = []
    for ident, owned in managed.managers.items():
        info = json.loads(ident)
        entry: Object = {"manager": info["manager"], "operation": info["operation"],
                         "apiVersion": owned.api_version}
        if ident in managed.times:
            entry["time"] = managed.times[ident]
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = owned.fields.to_fields_v1()
        if info.get("subresource"):
            entry["subresource"] = info["subresource"]
        out.append(entry)
    out.sort(key=lambda e: (e["operation"], e.get("time", ""), e["manager"],
                            e["apiVersion"], e.get("subresource", "")))
    return out


def _stripped(managers: Managers) -> Managers:
    out = {}
    for ident, owned in managers.items():
        fields = owned.fields.difference(_STRIPPED)
        if not fields.empty():
            out[ident] = Owned(fields, owned.api_version, owned.applied)
    return out


def _capped(managed: Managed, api_version: str) -> Managed:
    """At most ten Update managers: the oldest merge into "ancient-changes"."""
    updaters = [i for i, o in managed.managers.items() if not o.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return managed
    updaters.sort(key=lambda i: managed.times.get(i, ""))
    ancient = identifier(ANCIENT, "Update", api_version, None)
    for ident in updaters[:len(updaters) - MAX_UPDATE_MANAGERS + 1]:
        if ident == ancient:
            continue
        owned = managed.managers.pop(ident)
        managed.times.pop(ident, None)
        previous = managed.managers.get(ancient)
        fields = owned.fields if previous is None else previous.fields.union(owned.fields)
        managed.managers[ancient] = Owned(fields, api_version, False)
    return managed


def _ignored(resource: Resource, subresource: str | None, *objs: Object) -> FieldSet:
    """The reset fields of the strategy: status for a main-resource write of a kind with
    a status subresource, everything but metadata and status for a status write."""
    if subresource == "status":
        names = {k for obj in objs for k in obj} - {"metadata", "status", "apiVersion", "kind"}
        return FieldSet.of(*((field(n),) for n in names))
    if subresource is None and strategy_for(resource).status_subresource:
        return FieldSet.of((field("status"),))
    return FieldSet()


def _bare(obj: Object) -> Object:
    """The object without its managedFields (SMD never sees them)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _managed_of(obj: Object) -> Any:
    meta = obj.get("metadata")
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _reset_requested(entries: Any) -> bool:
    return isinstance(entries, list) and entries in ([], [{}])


# -- writes --------------------------------------------------------------------------------

def track_update(resource: Resource, who: Writer, live: Object | None, new: Object) -> None:
    """Record `who`'s changes from `live` (None: a create) to `new` in
    new.metadata.managedFields. Never raises: on failure the field is dropped."""
    try:
        _track_update(resource, who, live or {}, new)
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as e:
        log.warning("managedFields of %s dropped: %r", resource.plural, e)
        if isinstance(new.get("metadata"), dict):
            new["metadata"].pop("managedFields", None)


def _track_update(resource: Resource, who: Writer, live: Object, new: Object) -> None:
    given = _managed_of(new)
    if _reset_requested(given) and who.subresource is None:
        managed = Managed({}, {})
    else:
        managed = Managed({}, {})
        if who.subresource is None and given:
            try:
                managed = decode(given)
            except ValueError:
                managed = Managed({}, {})
        if not managed.managers:
            try:
                managed = decode(_managed_of(live))
            except ValueError:
                managed = Managed({}, {})
    node = applytypes.root(resource)
    bare_live, bare_new = _bare(live), _bare(new)
    version = resource.api_version
    result = _stripped(update(bare_live, bare_new, node, managed.managers, _CURRENT, version,
                              ignored=_ignored(resource, who.subresource, bare_live, bare_new)))
    ident = identifier(who.manager, "Update", version, who.subresource)
    current = result.pop(_CURRENT, None)
    if current is not None:
        previous = result.get(ident)
        fields = current.fields if previous is None else current.fields.union(previous.fields)
        result[ident] = Owned(fields, version, False)
        managed.times[ident] = now_rfc3339()
    managed = _capped(Managed(result, {i: t for i, t in managed.times.items() if i in result}),
                      version)
    new.setdefault("metadata", {})["managedFields"] = encode(managed)
    if not new["metadata"]["managedFields"]:
        del new["metadata"]["managedFields"]


def check_config(config: Any, api_version: str, kind: str) -> Object:
    """The applied configuration must be an object of this kind without managedFields;
    an absent metadata reads as empty (the name comes from the URL)."""
    if not isinstance(config, dict):
        raise errors.bad_request("the apply patch must be a YAML or JSON object")
    if config.get("apiVersion") != api_version:
        raise errors.bad_request("Incorrect version specified in apply patch. Specified patch "
                                 f"version: {config.get('apiVersion') or ''}, expected: "
                                 f"{api_version}")
    if config.get("kind") != kind:
        raise errors.bad_request(f"the object provided is unrecognized (must be of type "
                                 f"{kind}): kind {config.get('kind')!r}")
    meta = config.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    if meta.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    return config


def apply_config(resource: Resource, who: Writer, live: Object | None, config: Object, *,
                 force: bool) -> Object | None:
    """The object after `who` applied `config` over `live` (None: create-on-apply),
    managedFields included; None when neither the object nor its ownership changed.
    409 on conflicts (unless `force`), 422 for a configuration that cannot be typed."""
    live = live or {}
    try:
        managed = decode(_managed_of(live))
    except ValueError:
        managed = Managed({}, {})
    node = applytypes.root(resource)
    bare_live = _bare(live)
    ident = identifier(who.manager, "Apply", resource.api_version, who.subresource)
    ignored = _ignored(resource, who.subresource, bare_live, config)

    def run(forced: bool) -> tuple[Object | None, Managers]:
        return apply(bare_live, config, node, managed.managers, ident,
                     resource.api_version, force=forced, ignored=ignored)
    try:
        try:
            merged, managers = run(force)
        except Conflicts as e:
            if who.manager != "kubectl" or not _allowed_by_last_applied(
                    resource, bare_live, e.conflicts):
                raise
            merged, managers = run(True)
    except Conflicts as e:
        raise conflict_error(e.conflicts) from None
    except TypedError as e:
        raise errors.StatusError(
            422, "Invalid", f"failed to create typed patch object ({resource.api_version}, "
            f"Kind={resource.kind}): {e}",
            {"kind": resource.kind, "causes": [{"reason": "FieldValueInvalid",
                                               "message": e.message,
                                               "field": path_string(e.path).lstrip(".")}]}
        ) from None
    managers = _stripped(managers)
    times = {i: t for i, t in managed.times.items() if i in managers}
    result = copy.deepcopy(live) if merged is None else merged
    if merged is not None:
        times[ident] = now_rfc3339()
        if who.manager == "kubectl" and LAST_APPLIED in _annotations(live):
            _annotations(result, create=True)[LAST_APPLIED] = _last_applied(config)
    entries = encode(_capped(Managed(managers, times), resource.api_version))
    result.setdefault("metadata", {})["managedFields"] = entries
    if not entries:
        del result["metadata"]["managedFields"]
    if merged is None and entries == _managed_of(live):
        return None
    return result


def _annotations(obj: Object, *, create: bool = False) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {}) if create else obj.get("metadata") or {}
    found = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(found, dict):
        return found
    if create:
        meta["annotations"] = {}
        annotations: dict[str, Any] = meta["annotations"]
        return annotations
    return {}


def _last_applied(config: Object) -> str:
    """buildLastApplied: the configuration as JSON, without the annotation itself."""
    bare = copy.deepcopy(config)
    annotations = _annotations(bare)
    annotations.pop(LAST_APPLIED, None)
    return json.dumps(bare, separators=(",", ":"))


def _allowed_by_last_applied(resource: Resource, live: Object,
                             conflicts: list[Conflict]) -> bool:
    """lastAppliedManager: kubectl's first server-side apply over an object it managed by
    client-side apply may take the fields whose live value is still what the
    last-applied annotation recorded."""
    text = _annotations(live).get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return False
    try:
        last = json.loads(text)
    except ValueError:
        return False
    if not isinstance(last, dict):
        return False
    node = applytypes.root(resource)
    try:
        allowed = to_set(last, node).difference(compare(last, live, node).modified)
    except (TypedError, ValueError):
        return False
    return all(allowed.has(c.path) for c in conflicts)


def conflict_error(conflicts: list[Conflict]) -> errors.StatusError:
    """NewConflictError: 409 naming each manager and field."""
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {printed(c.manager)}",
               "field": path_string(c.path)} for c in conflicts]
    if len(conflicts) == 1:
        only = conflicts[0]
        message = (f"Apply failed with 1 conflict: conflict with {printed(only.manager)}: "
                   f"{path_string(only.path)}")
    else:
        lines = []
        for manager in sorted({c.manager for c in conflicts}):
            lines.append(f"conflicts with {printed(manager)}:")
            lines += [f"- {path_string(c.path)}" for c in conflicts if c.manager == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.StatusError(409, "Conflict", message, {"causes": causes})
