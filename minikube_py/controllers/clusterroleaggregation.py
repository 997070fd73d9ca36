"""ClusterRole aggregation, as Kubernetes' clusterrole-aggregation-controller: a
ClusterRole with an aggregationRule holds the rules of every other ClusterRole whose
labels match one of its clusterRoleSelectors (admin, edit and view gather the
`rbac.authorization.k8s.io/aggregate-to-*` roles). Any ClusterRole change may change any
aggregate, so every aggregate is looked at again; rules are taken in role-name order,
duplicates dropped, and written only when they differ.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from minikube_py.api.resources import CLUSTERROLES
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict, as_list, dicts
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.controllers.base import Controller, SharedInformers
from minikube_py.controllers.settings import ControllerManagerSettings


def _selectors(role: Object) -> list[LabelSelector]:
    selectors = []
    for selector in dicts(as_dict(role.get("aggregationRule")).get("clusterRoleSelectors")):
        try:
            selectors.append(LabelSelector.from_dict(selector))
        except ValueError:
            continue  # validation refuses these; an old stored one selects nothing
    return selectors


def aggregated_rules(role: Object, roles: list[Object]) -> list[Any]:
    """The rules `role` aggregates from `roles` (itself excluded)."""
    selectors = _selectors(role)
    name = role["metadata"]["name"]
    rules: list[Any] = []
    for other in sorted(roles, key=lambda r: str(r["metadata"]["name"])):
        labels = as_dict(other["metadata"].get("labels"))
        if other["metadata"]["name"] == name or not any(s.matches(labels) for s in selectors):
            continue
        rules += [rule for rule in as_list(other.get("rules")) if rule not in rules]
    return rules


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation-controller"
    workers = 1

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.roles = self.watch(CLUSTERROLES)
        self.roles.add_handlers(self._changed, lambda old, new: self._changed(new),
                                self._changed)

    def _changed(self, _role: Object) -> None:
        for role in self.roles.list():
            if role.get("aggregationRule"):
                self.enqueue(role)

    async def sync(self, key: Hashable) -> None:
        role = self.roles.get(str(key))
        if role is None or not role.get("aggregationRule"):
            return
        rules = aggregated_rules(role, list(self.roles.list()))
        if rules == as_list(role.get("rules")):
            return
        await self.client.update(CLUSTERROLES, {**role, "rules": rules})
