"""Which admission webhooks a request reaches: a configured webhook compiled once
(rules, selectors, client) and the pure matching kube-apiserver's webhook/predicates do
(rules by operation, group, version, resource/subresource with `*`, and scope).

Selectors need the object's and the namespace's labels, which the dispatcher supplies;
the webhook configuration kinds themselves never reach a webhook (as Kubernetes exempts
them, so a broken webhook cannot lock its own configuration).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.api.admissionregistration import DEFAULT_TIMEOUT
from minikube_py.api.resources import (
    MUTATINGWEBHOOKCONFIGURATIONS,
    NAMESPACES,
    VALIDATINGWEBHOOKCONFIGURATIONS,
    Resource,
)
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict, as_list, dicts

EXEMPT = (VALIDATINGWEBHOOKCONFIGURATIONS, MUTATINGWEBHOOKCONFIGURATIONS)


@dataclass(frozen=True)
class Rule:
    operations: frozenset[str]
    groups: frozenset[str]
    versions: frozenset[str]
    resources: tuple[tuple[str, str], ...]  # (resource, subresource) with "*" wildcards
    scope: str

    def matches(self, operation: str, resource: Resource, subresource: str,
                namespace: str | None) -> bool:
        return (_has(self.operations, operation) and _has(self.groups, resource.group)
                and _has(self.versions, resource.version)
                and any(r in ("*", resource.plural) and s in ("*", subresource)
                        for r, s in self.resources)
                and self._scope(resource, namespace))

    def _scope(self, resource: Resource, namespace: str | None) -> bool:
        """A Namespace object is cluster-scoped, whatever its request's namespace says."""
        if self.scope == "Namespaced":
            return resource is not NAMESPACES and bool(namespace)
        if self.scope == "Cluster":
            return resource is NAMESPACES or not namespace
        return True


def _has(allowed: frozenset[str], value: str) -> bool:
    return "*" in allowed or value in allowed


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    path: str
    port: int


@dataclass(frozen=True)
class Webhook:
    """One webhook of a configuration, ready to match and call."""

    name: str
    configuration: str
    mutating: bool
    rules: tuple[Rule, ...]
    namespace_selector: LabelSelector
    object_selector: LabelSelector
    failure_policy: str
    match_policy: str
    side_effects: str
    timeout: int
    reinvoke: bool
    url: str | None
    service: Service | None
    ca_bundle: bytes

    def matching_rule(self, operation: str, resource: Resource, subresource: str,
                      namespace: str | None) -> bool:
        return any(r.matches(operation, resource, subresource, namespace) for r in self.rules)

    def selects_object(self, labels: list[Mapping[str, str]]) -> bool:
        """objectSelector: the new or the old object's labels match (either is enough)."""
        return self.object_selector.is_everything or any(
            self.object_selector.matches(one) for one in labels)


def _rule(rule: Mapping[str, Any]) -> Rule:
    resources = tuple((r.partition("/")[0], r.partition("/")[2])
                      for r in as_list(rule.get("resources")) if isinstance(r, str))
    return Rule(frozenset(as_list(rule.get("operations"))),
                frozenset(as_list(rule.get("apiGroups"))),
                frozenset(as_list(rule.get("apiVersions"))), resources,
                str(rule.get("scope") or "*"))


def _ca_bundle(value: Any) -> bytes:
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        return b""


def compile_configuration(obj: Mapping[str, Any], *, mutating: bool) -> list[Webhook]:
    """The webhooks of a stored (defaulted, validated) configuration, in its order."""
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    hooks = []
    for hook in dicts(obj.get("webhooks")):
        client = as_dict(hook.get("clientConfig"))
        svc = client.get("service")
        service = Service(str(svc.get("namespace", "")), str(svc.get("name", "")),
                          str(svc.get("path") or ""), int(svc.get("port") or 443)) \
            if isinstance(svc, dict) else None
        hooks.append(Webhook(
            name=str(hook.get("name", "")), configuration=name, mutating=mutating,
            rules=tuple(_rule(r) for r in dicts(hook.get("rules"))),
            namespace_selector=LabelSelector.from_dict(hook.get("namespaceSelector") or {}),
            object_selector=LabelSelector.from_dict(hook.get("objectSelector") or {}),
            failure_policy=str(hook.get("failurePolicy") or "Fail"),
            match_policy=str(hook.get("matchPolicy") or "Equivalent"),
            side_effects=str(hook.get("sideEffects") or "None"),
            timeout=int(hook.get("timeoutSeconds") or DEFAULT_TIMEOUT),
            reinvoke=hook.get("reinvocationPolicy") == "IfNeeded",
            url=client.get("url") if isinstance(client.get("url"), str) else None,
            service=service, ca_bundle=_ca_bundle(client.get("caBundle"))))
    return hooks
