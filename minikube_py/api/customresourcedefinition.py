"""apiextensions.k8s.io/v1 CustomResourceDefinition: validation, its conditions, and the
served kinds it defines.

As apiextensions-apiserver: the name is `<plural>.<group>`, exactly one version is the
storage version, every served version carries a structural schema. A valid CRD's names
are accepted at once (NamesAccepted, Established: this server has no name conflicts to
wait on beyond a built-in plural, refused here), and the api-server's CRD registry
serves its versions from the stored object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import celrules, crdschema, field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.meta import now_rfc3339
from minikube_py.api.resources import ALL, Resource
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

GROUP = "apiextensions.k8s.io"
# Deleting a CRD first deletes its objects; this finalizer holds it until then.
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_SCOPES = ("Cluster", "Namespaced")


def names(crd: Mapping[str, Any]) -> dict[str, Any]:
    return as_dict(as_dict(crd.get("spec")).get("names"))


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(name: str) -> tuple[int, int, int, str]:
    """apimachinery's CompareKubeAwareVersionStrings as a sort key: GA before beta before
    alpha, higher numbers first, then anything else alphabetically."""
    found = _KUBE_VERSION.match(name)
    if found is None:
        return (3, 0, 0, name)
    major, stage, minor = found.groups()
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0), "")


def resources_of(crd: Mapping[str, Any]) -> list[Resource]:
    """One Resource per served version, the preferred (discovery's first) first; empty
    for a CRD this server cannot serve."""
    spec = as_dict(crd.get("spec"))
    n = names(crd)
    group, plural, kind = spec.get("group"), n.get("plural"), n.get("kind")
    if not (isinstance(group, str) and isinstance(plural, str) and isinstance(kind, str)):
        return []
    served = []
    versions = sorted(dicts(spec.get("versions")), key=lambda v: version_priority(
        str(v.get("name"))))
    for version in versions:
        if version.get("served") is False or not isinstance(version.get("name"), str):
            continue
        subs = as_dict(version.get("subresources"))
        served.append(Resource(
            group, version["name"], kind, plural, spec.get("scope") == "Namespaced",
            tuple(s for s in n.get("shortNames") or () if isinstance(s, str)),
            tuple(c for c in n.get("categories") or () if isinstance(c, str)),
            tuple(s for s in ("status", "scale") if s in subs), custom=True))
    return served


def _name_causes(crd: Object) -> list[Cause]:
    spec, n = as_dict(crd.get("spec")), names(crd)
    causes: list[Cause] = []
    group = spec.get("group")
    if not isinstance(group, str) or not group:
        causes.append(field.required("spec.group"))
    elif "." not in group or meta.dns1123_subdomain(group):
        causes.append(field.invalid("spec.group", group, "should be a domain with at least "
                                    "one dot"))
    for key in ("plural", "singular", "kind", "listKind"):
        value = n.get(key)
        if key in ("plural", "kind") and not value:
            causes.append(field.required(f"spec.names.{key}"))
        elif value and key in ("plural", "singular") and (
                not isinstance(value, str) or meta.dns1123_label(value)):
            causes.append(field.invalid(f"spec.names.{key}", value, "a lowercase RFC 1123 "
                                        "label must consist of lower case alphanumeric "
                                        "characters or '-'"))
    plural = n.get("plural")
    name = as_dict(crd.get("metadata")).get("name")
    if isinstance(plural, str) and isinstance(group, str) and name != f"{plural}.{group}":
        causes.append(field.invalid("metadata.name", name, "must be spec.names.plural+\".\""
                                    "+spec.group"))
    if group in {r.group for r in ALL}:
        causes.append(field.invalid("spec.group", group, "may not be a built-in API group"))
    if spec.get("scope") not in _SCOPES:
        causes.append(field.not_supported("spec.scope", spec.get("scope"), _SCOPES))
    return causes


def _version_causes(crd: Object) -> list[Cause]:
    versions = as_dict(crd.get("spec")).get("versions")
    if not isinstance(versions, list) or not versions:
        return [field.invalid("spec.versions", versions, "must have exactly one version "
                              "marked as storage version")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            causes.append(field.invalid(path, version, "must be an object"))
            continue
        name = version.get("name")
        if not isinstance(name, str) or meta.dns1123_label(name):
            causes.append(field.invalid(f"{path}.name", name, "a DNS-1035 label is required"))
        elif name in seen:
            causes.append(field.duplicate(f"{path}.name", name))
        else:
            seen.add(name)
        schema = as_dict(version.get("schema")).get("openAPIV3Schema")
        if schema is None:
            causes.append(field.required(f"{path}.schema.openAPIV3Schema",
                                         "schemas are required"))
        else:
            causes += crdschema.structural_causes(schema, f"{path}.schema.openAPIV3Schema")
            causes += celrules.compile_causes(schema, f"{path}.schema.openAPIV3Schema")
        for j, column in enumerate(dicts(version.get("additionalPrinterColumns"))):
            for key in ("name", "type", "jsonPath"):
                if not column.get(key):
                    causes.append(field.required(
                        f"{path}.additionalPrinterColumns[{j}].{key}"))
    if sum(1 for v in dicts(versions) if v.get("storage") is True) != 1:
        causes.append(field.invalid("spec.versions", versions, "must have exactly one "
                                    "version marked as storage version"))
    if not any(v.get("served") is not False for v in dicts(versions)):
        causes.append(field.invalid("spec.versions", versions, "must have at least one "
                                    "version marked as served"))
    return causes


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": "True", "lastTransitionTime": now_rfc3339(),
            "reason": reason, "message": message}


class CustomResourceDefinitionStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME, table.Column("Created At", "date", "Created at"))

    def default(self, obj: Object) -> list[str]:
        # The CRD's own schema is open-ended (JSONSchemaProps); defaults only.
        self.set_defaults(obj)
        return []

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        n = spec.get("names")
        if isinstance(n, dict) and isinstance(n.get("kind"), str):
            n.setdefault("singular", n["kind"].lower())
            n.setdefault("listKind", f"{n['kind']}List")
        spec.setdefault("conversion", {"strategy": "None"})
        for version in dicts(spec.get("versions")):
            version.setdefault("served", True)

    def prepare_create(self, obj: Object) -> None:
        super().prepare_create(obj)
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            return  # validation reports it; nothing is written
        finalizers = metadata.setdefault("finalizers", [])
        if isinstance(finalizers, list) and CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)

    def initial_status(self, obj: Object) -> Object | None:
        """Names accepted and established on creation: the registry serves it at once."""
        return {"conditions": [
            _condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            _condition("Established", "InitialNamesAccepted",
                       "the initial names have been accepted")],
            "acceptedNames": names(obj), "storedVersions": [
                v["name"] for v in dicts(as_dict(obj.get("spec")).get("versions"))
                if v.get("storage") is True and isinstance(v.get("name"), str)]}

    def validate(self, obj: Object) -> list[Cause]:
        if not isinstance(obj.get("spec"), dict):
            return [field.required("spec")]
        return _name_causes(obj) + _version_causes(obj)

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        causes = []
        for key in ("group", "scope"):
            if as_dict(new.get("spec")).get(key) != as_dict(old.get("spec")).get(key):
                causes.append(field.immutable(f"spec.{key}", as_dict(new.get("spec")).get(key)))
        return causes

    def prepare_update(self, new: Object, old: Object, subresource: str | None = None) -> None:
        super().prepare_update(new, old, subresource)
        if subresource is None and "status" in new:
            status = new["status"]
            if isinstance(status, dict):  # names and stored versions follow the spec
                status["acceptedNames"] = names(new)
                stored = list(status.get("storedVersions") or [])
                for v in dicts(as_dict(new.get("spec")).get("versions")):
                    if v.get("storage") is True and v.get("name") not in stored:
                        stored.append(v.get("name"))
                status["storedVersions"] = stored

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), as_dict(obj.get("metadata")).get("creationTimestamp", "")]
