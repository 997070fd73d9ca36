"""RBAC rule semantics, pure: does a rule allow a request, do some rules cover others.

As Kubernetes' plugin/pkg/auth/authorizer/rbac (RuleAllows) and
pkg/registry/rbac/validation (Covers, for escalation prevention): verbs, apiGroups,
resources with their subresources (`pods/exec`, `*/scale`), resourceNames,
nonResourceURLs (`/healthz`, `/apis/*`) and `*` wildcards. Rules are compiled once into
frozensets when the index learns them, so a decision is a few set lookups.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL = "*"


@dataclass(frozen=True, slots=True)
class Attributes:
    """What one request asks (authorizer.Attributes); `path` only for non-resource ones."""

    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return not self.path


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A PolicyRule, compiled."""

    verbs: frozenset[str]
    groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, rule: Mapping[str, Any]) -> Rule:
        return cls(frozenset(_strings(rule.get("verbs"))),
                   frozenset(_strings(rule.get("apiGroups"))),
                   frozenset(_strings(rule.get("resources"))),
                   frozenset(_strings(rule.get("resourceNames"))),
                   _strings(rule.get("nonResourceURLs")))

    def to_json(self) -> dict[str, list[str]]:
        out = {"verbs": sorted(self.verbs), "apiGroups": sorted(self.groups),
               "resources": sorted(self.resources), "resourceNames": sorted(self.names),
               "nonResourceURLs": list(self.urls)}
        return {k: v for k, v in out.items() if v or k == "verbs"}

    def allows(self, attrs: Attributes) -> bool:
        """RuleAllows."""
        if attrs.verb not in self.verbs and ALL not in self.verbs:
            return False
        if not attrs.is_resource:
            return any(_url_matches(url, attrs.path) for url in self.urls)
        if attrs.group not in self.groups and ALL not in self.groups:
            return False
        if self.names and attrs.name not in self.names:
            return False
        return self._resource_matches(attrs.resource, attrs.subresource)

    def _resource_matches(self, resource: str, subresource: str) -> bool:
        resources = self.resources
        if ALL in resources:
            return True
        if not subresource:
            return resource in resources
        return f"{resource}/{subresource}" in resources or f"*/{subresource}" in resources


def _url_matches(rule_url: str, path: str) -> bool:
    if rule_url in (ALL, path):
        return True
    return rule_url.endswith("*") and path.startswith(rule_url.rstrip("*"))


def compile_rules(rules: Any) -> tuple[Rule, ...]:
    return tuple(Rule.of(r) for r in rules if isinstance(r, Mapping)) \
        if isinstance(rules, list) else ()


class RuleSet:
    """Rules indexed by (apiGroup, resource), so a decision looks only at the few rules
    that could match it (exact, `*` and `*/<subresource>` keys) instead of all of them;
    what it decides is exactly what `any(rule.allows(attrs))` would."""

    __slots__ = ("_by_key", "_urls")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._by_key: dict[tuple[str, str], list[Rule]] = {}
        self._urls: list[Rule] = []
        for rule in rules:
            if rule.urls:
                self._urls.append(rule)
            for group in rule.groups:
                for resource in rule.resources:
                    self._by_key.setdefault((group, resource), []).append(rule)

    def allows(self, attrs: Attributes) -> bool:
        if not attrs.is_resource:
            return any(rule.allows(attrs) for rule in self._urls)
        sub = attrs.subresource
        resources = (f"{attrs.resource}/{sub}", ALL, f"*/{sub}") if sub else (
            attrs.resource, ALL)
        verb, name = attrs.verb, attrs.name
        for group in (attrs.group, ALL):
            for resource in resources:
                for rule in self._by_key.get((group, resource), ()):
                    if (verb in rule.verbs or ALL in rule.verbs) and (
                            not rule.names or name in rule.names):
                        return True
        return False


# -- escalation prevention: do the owner's rules cover the requested ones ------------------

def breakdown(rule: Rule) -> list[Rule]:
    """One rule per (group, resource, verb, name) or (url, verb): the atoms `covers` tests."""
    atoms: list[Rule] = []
    for group in rule.groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                atoms += [Rule(frozenset({verb}), frozenset({group}), frozenset({resource}),
                               frozenset({name})) for name in rule.names] or [
                    Rule(frozenset({verb}), frozenset({group}), frozenset({resource}))]
    for url in rule.urls:
        atoms += [Rule(frozenset({verb}), urls=(url,)) for verb in rule.verbs]
    return atoms


def _resources_cover(owned: frozenset[str], wanted: frozenset[str]) -> bool:
    if ALL in owned or wanted <= owned:
        return True
    for path in wanted:
        if path in owned:
            continue
        _resource, slash, sub = path.partition("/")
        if not slash or f"*/{sub}" not in owned:
            return False
    return True


def _url_covers(owner: str, wanted: str) -> bool:
    if owner == wanted:
        return True
    return owner.endswith("*") and wanted.startswith(owner[:-1])


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """pkg/registry/rbac/validation ruleCovers: a requested `*` is covered only by `*`."""
    return ((ALL in owner.verbs or sub.verbs <= owner.verbs)
            and (ALL in owner.groups or sub.groups <= owner.groups)
            and _resources_cover(owner.resources, sub.resources)
            and all(any(_url_covers(o, w) for o in owner.urls) for w in sub.urls)
            and (not owner.names or (bool(sub.names) and sub.names <= owner.names)))


def uncovered(owned: Sequence[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    """The atoms of `wanted` no rule of `owned` covers ([] = no escalation)."""
    return [atom for rule in wanted for atom in breakdown(rule)
            if not any(rule_covers(o, atom) for o in owned)]


def compact_string(rule: Rule) -> str:
    """rbacv1helpers.CompactString: {APIGroups:["apps"], Resources:["deployments"], ...}."""
    def quoted(values: Iterable[str]) -> str:
        return "[" + " ".join(json.dumps(v) for v in values) + "]"
    parts = [f"{label}:{quoted(values)}" for label, values in (
        ("APIGroups", sorted(rule.groups)), ("Resources", sorted(rule.resources)),
        ("NonResourceURLs", rule.urls), ("ResourceNames", sorted(rule.names)),
        ("Verbs", sorted(rule.verbs))) if values]
    return "{" + ", ".join(parts) + "}"
