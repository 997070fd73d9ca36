"""Roles, ClusterRoles, RoleBindings, ClusterRoleBindings (rbac.authorization.k8s.io/v1):
defaults, validation and Tables as Kubernetes' pkg/apis/rbac (validation.go, defaults.go,
printers.go), so kubectl's `create role`, `describe` and `get -o wide` read the same."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.resources import RBAC_GROUP
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

ROLE_KINDS = ("Role", "ClusterRole")
SUBJECT_KINDS = ("Group", "ServiceAccount", "User")
CREATED_AT = table.Column("Created At", type="date", description="CreationTimestamp is a "
                          "timestamp representing the server time when this object was created.")
_RULE_LISTS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def rbac_name_problems(name: str) -> list[str]:
    """apimachinery's path.IsValidPathSegmentName: RBAC names may hold ':' (system:...)."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _strings(value: Any, path: str, causes: list[Cause]) -> list[str] | None:
    """The list, [] if absent, None (with a cause) if it is not a list of strings."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        causes.append(field.invalid(path, value, "must be a list of strings"))
        return None
    return value


def validate_rule(rule: Mapping[str, Any], path: str, *, namespaced: bool) -> list[Cause]:
    """ValidatePolicyRule: verbs always; either non-resource URLs (cluster roles only) or
    api groups and resources, never both."""
    causes: list[Cause] = []
    lists = {k: _strings(rule.get(k), f"{path}.{k}", causes) for k in _RULE_LISTS}
    if lists["verbs"] == []:
        causes.append(field.required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = lists["nonResourceURLs"]
    if urls:
        if namespaced:
            causes.append(field.invalid(f"{path}.nonResourceURLs", urls,
                                        "namespaced rules cannot apply to non-resource URLs"))
        if lists["apiGroups"] or lists["resources"] or lists["resourceNames"]:
            causes.append(field.invalid(f"{path}.nonResourceURLs", urls, "rules cannot apply "
                                        "to both regular resources and non-resource URLs"))
        return causes
    if lists["apiGroups"] == []:
        causes.append(field.required(f"{path}.apiGroups",
                                     "resource rules must supply at least one api group"))
    if lists["resources"] == []:
        causes.append(field.required(f"{path}.resources",
                                     "resource rules must supply at least one resource"))
    return causes


def _validate_rules(obj: Object, *, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    for path, rule in field.objects(obj.get("rules"), "rules", causes):
        causes += validate_rule(rule, path, namespaced=namespaced)
    return causes


def _validate_subject(subject: Mapping[str, Any], path: str, *, namespaced: bool
                      ) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("kind", "apiGroup", "name", "namespace"):
        if not isinstance(subject.get(key, ""), str):
            causes.append(field.invalid(f"{path}.{key}", subject[key], "must be a string"))
    if causes:
        return causes
    name, kind, group = subject.get("name", ""), subject.get("kind", ""), subject.get(
        "apiGroup", "")
    if not name:
        causes.append(field.required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            causes += [field.invalid(f"{path}.name", name, p)
                       for p in meta.dns1123_subdomain(name)]
        if group:
            causes.append(field.not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            causes.append(field.required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            causes.append(field.not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
    else:
        causes.append(field.not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return causes


def subjects_strings(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """Users, groups and service accounts of a binding, as `get -o wide` prints them."""
    found: dict[str, list[str]] = {"User": [], "Group": [], "ServiceAccount": []}
    for subject in dicts(obj.get("subjects")):
        kind, name = subject.get("kind"), str(subject.get("name", ""))
        if kind == "ServiceAccount":
            found[kind].append(f"{subject.get('namespace', '')}/{name}")
        elif kind in found:
            found[str(kind)].append(name)
    return (", ".join(found["User"]), ", ".join(found["Group"]),
            ", ".join(found["ServiceAccount"]))


class _RbacStrategy(Strategy):
    has_spec = False

    def name_problems(self, name: str) -> list[str]:
        return rbac_name_problems(name)


class RoleStrategy(_RbacStrategy):
    columns: ClassVar[tuple[table.Column, ...]] = (table.NAME, CREATED_AT)
    namespaced_rules: ClassVar[bool] = True

    def validate(self, obj: Object) -> list[Cause]:
        return _validate_rules(obj, namespaced=self.namespaced_rules)

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        created = as_dict(obj.get("metadata")).get("creationTimestamp")
        return [table.name(obj), meta.format_time(meta.parse_time(created)) if created else ""]


class ClusterRoleStrategy(RoleStrategy):
    namespaced_rules = False

    def validate(self, obj: Object) -> list[Cause]:
        causes = super().validate(obj)
        rule = obj.get("aggregationRule")
        if rule is None:
            return causes
        if not isinstance(rule, Mapping):
            return [*causes, field.invalid("aggregationRule", rule, "must be an object")]
        selectors = rule.get("clusterRoleSelectors")
        if not selectors:
            causes.append(field.required("aggregationRule.clusterRoleSelectors", "at least one "
                                         "clusterRoleSelector required if aggregationRule is "
                                         "non-nil"))
        for path, selector in field.objects(selectors, "aggregationRule.clusterRoleSelectors",
                                            causes):
            try:
                LabelSelector.from_dict(selector)
            except (ValueError, TypeError) as e:
                causes.append(field.invalid(path, selector, str(e)))
        return causes


class RoleBindingStrategy(_RbacStrategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Role", description="RoleRef can reference a Role in the current namespace "
                                         "or a ClusterRole in the global namespace."),
        table.AGE,
        table.Column("Users", priority=1, description="Users in the roleBinding"),
        table.Column("Groups", priority=1, description="Groups in the roleBinding"),
        table.Column("ServiceAccounts", priority=1,
                     description="ServiceAccounts in the roleBinding"),
    )
    role_kinds: ClassVar[tuple[str, ...]] = ROLE_KINDS

    def set_defaults(self, obj: Object) -> None:
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and not ref.get("apiGroup"):
            ref["apiGroup"] = RBAC_GROUP
        for subject in dicts(obj.get("subjects")):
            if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = RBAC_GROUP

    def validate(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        ref = obj.get("roleRef")
        if not isinstance(ref, Mapping):
            causes.append(field.required("roleRef") if ref is None
                          else field.invalid("roleRef", ref, "must be an object"))
        else:
            if ref.get("apiGroup") != RBAC_GROUP:
                causes.append(field.not_supported("roleRef.apiGroup", ref.get("apiGroup"),
                                                  [RBAC_GROUP]))
            if ref.get("kind") not in self.role_kinds:
                causes.append(field.not_supported("roleRef.kind", ref.get("kind"),
                                                  self.role_kinds))
            name = ref.get("name")
            if not name:
                causes.append(field.required("roleRef.name"))
            else:
                causes += meta.validate_name(name, "roleRef.name", rbac_name_problems)
        namespaced = self.resource.namespaced
        for path, subject in field.objects(obj.get("subjects"), "subjects", causes):
            causes += _validate_subject(subject, path, namespaced=namespaced)
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        if new.get("roleRef") != old.get("roleRef"):
            return [field.invalid("roleRef", new.get("roleRef"), "cannot change roleRef")]
        return []

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        ref = as_dict(obj.get("roleRef"))
        return [table.name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}",
                table.age(obj, now), *subjects_strings(obj)]


class ClusterRoleBindingStrategy(RoleBindingStrategy):
    role_kinds = ("ClusterRole",)
