"""The RBAC authorizer's view of Roles, ClusterRoles and their bindings, kept in memory.

As kube-apiserver's RBAC authorizer reads informer caches, each api-server process
(every worker too) lists the four kinds once and follows their watches, so a decision
never reads etcd. Bindings are indexed by subject (`u:<user>`, `g:<group>`; a service
account is its user name) so a request only looks at the bindings naming its user or
one of its groups, however many others exist; the rules those bindings give a user in a
namespace are compiled once into a RuleSet and kept until the policy next changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from minikube_py.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    ROLEBINDINGS,
    ROLES,
    Resource,
)
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.apiserver.authn import User
from minikube_py.apiserver.following import follow
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.apiserver.rbac_rules import Attributes, Rule, RuleSet, compile_rules
from minikube_py.store import WatchHub

KINDS = (CLUSTERROLES, ROLES, CLUSTERROLEBINDINGS, ROLEBINDINGS)
RULE_SETS = 4096  # (user, namespace) rule sets kept; any policy change drops them all
RoleRef = tuple[str, str]  # (kind, name)


def subject_keys(subject: dict[str, Any], namespace: str) -> list[str]:
    """How a binding's subject is indexed; a service account without a namespace means the
    binding's own (RoleBindings), and matches nobody in a ClusterRoleBinding."""
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return []
    if kind == "User":
        return [f"u:{name}"]
    if kind == "Group":
        return [f"g:{name}"]
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return [f"u:system:serviceaccount:{sa_namespace}:{name}"] \
            if isinstance(sa_namespace, str) and sa_namespace else []
    return []


def user_keys(user: User) -> list[str]:
    return [f"u:{user.name}", *(f"g:{g}" for g in user.groups)]


class RbacIndex:
    """Roles by name, bindings by subject; updated by `run`, read by the authorizer."""

    def __init__(self, store: ObjectStore, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub
        self.cluster_roles: dict[str, tuple[Rule, ...]] = {}
        self.roles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        # subject key -> binding name -> ClusterRole name
        self.cluster_bindings: dict[str, dict[str, str]] = {}
        # (namespace, subject key) -> binding name -> role ref
        self.bindings: dict[tuple[str, str], dict[str, RoleRef]] = {}
        self._binding_keys: dict[tuple[str, str, str], list[str]] = {}  # what to unindex
        self._rule_sets: dict[tuple[User, str], RuleSet] = {}
        self._synced = {r.plural: asyncio.Event() for r in KINDS}

    # -- reads ------------------------------------------------------------------------------

    async def wait_synced(self) -> None:
        for event in self._synced.values():
            await event.wait()

    def role_rules(self, kind: str, name: str, namespace: str) -> tuple[Rule, ...] | None:
        """A role ref's rules (a Role is looked up in `namespace`); None if it is absent."""
        if kind == "ClusterRole":
            return self.cluster_roles.get(name)
        return self.roles.get((namespace, name))

    def _refs(self, user: User, namespace: str) -> Iterator[tuple[RoleRef, str]]:
        """(role ref, namespace to resolve a Role in) of every binding naming the user."""
        keys = user_keys(user)
        for key in keys:
            for role in self.cluster_bindings.get(key, {}).values():
                yield ("ClusterRole", role), ""
        if namespace:
            for key in keys:
                for ref in self.bindings.get((namespace, key), {}).values():
                    yield ref, namespace

    def allows(self, user: User, attrs: Attributes) -> bool:
        key = (user, attrs.namespace)
        rule_set = self._rule_sets.get(key)
        if rule_set is None:
            if len(self._rule_sets) >= RULE_SETS:
                self._rule_sets.clear()
            rule_set = self._rule_sets[key] = RuleSet(self.rules_for(user, attrs.namespace))
        return rule_set.allows(attrs)

    def rules_for(self, user: User, namespace: str) -> list[Rule]:
        """Every rule the user holds in `namespace` ("" = cluster-wide only): what
        escalation checks and SelfSubjectRulesReview read."""
        rules: list[Rule] = []
        for (kind, name), ns in self._refs(user, namespace):
            rules += self.role_rules(kind, name, ns) or ()
        return rules

    # -- keeping it current -----------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.gather(*(self._follow(r) for r in KINDS))

    async def _follow(self, resource: Resource) -> None:
        async def listed(objs: list[Object]) -> None:
            self._reset(resource)
            for obj in objs:
                self._apply(resource, obj)
            self._synced[resource.plural].set()

        async def changed(change: str, obj: Object) -> None:
            if change == "DELETE":
                self._remove(resource, obj)
            else:
                self._apply(resource, obj)
        await follow(self.store, self.hub, resource, listed=listed, changed=changed)

    def _reset(self, resource: Resource) -> None:
        self._rule_sets.clear()
        if resource is CLUSTERROLES:
            self.cluster_roles.clear()
        elif resource is ROLES:
            self.roles.clear()
        else:
            for key in [k for k in self._binding_keys if k[0] == resource.plural]:
                self._unindex(key)

    def _apply(self, resource: Resource, obj: dict[str, Any]) -> None:
        self._rule_sets.clear()
        meta = as_dict(obj.get("metadata"))
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "")
        if resource is CLUSTERROLES:
            self.cluster_roles[name] = compile_rules(obj.get("rules"))
            return
        if resource is ROLES:
            self.roles[(namespace, name)] = compile_rules(obj.get("rules"))
            return
        binding = (resource.plural, namespace, name)
        self._unindex(binding)
        ref = as_dict(obj.get("roleRef"))
        kind, role = str(ref.get("kind", "")), str(ref.get("name", ""))
        keys = [k for s in dicts(obj.get("subjects")) for k in subject_keys(s, namespace)]
        self._binding_keys[binding] = keys
        for key in keys:
            if resource is CLUSTERROLEBINDINGS:
                if kind == "ClusterRole":
                    self.cluster_bindings.setdefault(key, {})[name] = role
            else:
                self.bindings.setdefault((namespace, key), {})[name] = (kind, role)

    def _remove(self, resource: Resource, obj: dict[str, Any]) -> None:
        self._rule_sets.clear()
        meta = as_dict(obj.get("metadata"))
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "")
        if resource is CLUSTERROLES:
            self.cluster_roles.pop(name, None)
        elif resource is ROLES:
            self.roles.pop((namespace, name), None)
        else:
            self._unindex((resource.plural, namespace, name))

    def _unindex(self, binding: tuple[str, str, str]) -> None:
        plural, namespace, name = binding
        for key in self._binding_keys.pop(binding, []):
            index = self.cluster_bindings.get(key) if plural == CLUSTERROLEBINDINGS.plural \
                else self.bindings.get((namespace, key))
            if index is not None:
                index.pop(name, None)
