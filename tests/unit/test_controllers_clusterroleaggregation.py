"""ClusterRole aggregation: an aggregate gathers the rules of the roles its selectors
match, in name order without duplicates, and is written only when they change."""

from __future__ import annotations

from typing import Any, cast

from minikube_py.client import ApiClient
from minikube_py.controllers.clusterroleaggregation import ClusterRoleAggregationController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

VIEW_LABEL = "rbac.authorization.k8s.io/aggregate-to-view"
PODS = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
SVCS = {"verbs": ["get"], "apiGroups": [""], "resources": ["services"]}


def role(name: str, rules: list[Any], labels: dict[str, str] | None = None,
         aggregate: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                           "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {aggregate: "true"}}]}
    return obj


def controller(*roles: dict[str, Any]) -> tuple[ClusterRoleAggregationController, FakeClient]:
    client = FakeClient()
    c = ClusterRoleAggregationController(cast(ApiClient, client), ControllerManagerSettings())
    fill(c.roles, *roles)
    return c, client


async def test_gathers_matching_rules_in_name_order_without_duplicates() -> None:
    c, client = controller(
        role("view", [], aggregate=VIEW_LABEL),
        role("b-svc", [SVCS, PODS], {VIEW_LABEL: "true"}),
        role("a-pods", [PODS], {VIEW_LABEL: "true"}),
        role("other", [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]))
    await c.sync("view")
    assert client.summary() == [("update", "clusterroles", "view")]
    assert client.writes[0].body["rules"] == [PODS, SVCS]


async def test_unchanged_aggregate_is_not_written() -> None:
    c, client = controller(role("view", [PODS], aggregate=VIEW_LABEL),
                           role("a-pods", [PODS], {VIEW_LABEL: "true"}))
    await c.sync("view")
    await c.sync("a-pods")  # not an aggregate
    await c.sync("gone")
    assert client.summary() == []


async def test_a_lost_label_takes_its_rules_away() -> None:
    c, client = controller(role("view", [PODS], aggregate=VIEW_LABEL),
                           role("a-pods", [PODS], {VIEW_LABEL: "false"}))
    await c.sync("view")
    assert client.writes[0].body["rules"] == []


async def test_any_change_requeues_every_aggregate() -> None:
    c, _ = controller(role("view", [], aggregate=VIEW_LABEL),
                      role("edit", [], aggregate="x"), role("plain", []))
    c.roles._added(role("plain", []))
    assert len(c.queue) == 2
    assert {await c.queue.get(), await c.queue.get()} == {"edit", "view"}
