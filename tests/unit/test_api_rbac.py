"""The RBAC kinds: validation causes as Kubernetes' rbac validation names them, defaults,
and the Tables kubectl prints."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from tests.fixtures.api_strategies import (
    DELETE,
    NOW,
    created_causes,
    set_path,
    table_meta,
    table_row,
)

Obj = dict[str, Any]
R, CR, RB, CRB = (resources.ROLES, resources.CLUSTERROLES, resources.ROLEBINDINGS,
                  resources.CLUSTERROLEBINDINGS)
GROUP = "rbac.authorization.k8s.io"
VALID: dict[Resource, Obj] = {
    R: {"metadata": {"name": "pod-reader", "namespace": "default"},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "pods/log"],
                   "resourceNames": ["web"]}]},
    CR: {"metadata": {"name": "system:metrics-reader"},
         "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]},
                   {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
         "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "true"}}]}},
    RB: {"metadata": {"name": "read-pods", "namespace": "default"},
         "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "pod-reader"},
         "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "jane"},
                      {"kind": "ServiceAccount", "name": "default"}]},
    CRB: {"metadata": {"name": "read-all"},
          "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
          "subjects": [{"kind": "Group", "apiGroup": GROUP, "name": "system:authenticated"},
                       {"kind": "ServiceAccount", "name": "x", "namespace": "kube-system"}]},
}


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.plural) for r in VALID])
def test_valid_objects_have_no_causes(resource: Resource) -> None:
    assert created_causes(resource, VALID[resource]) == []


CASES = [
    (R, set_path("metadata.name", "a/b"), "metadata.name", "FieldValueInvalid"),
    (R, set_path("metadata.name", ".."), "metadata.name", "FieldValueInvalid"),
    (R, set_path("rules.0.verbs", []), "rules[0].verbs", "FieldValueRequired"),
    (R, set_path("rules.0.apiGroups", DELETE), "rules[0].apiGroups", "FieldValueRequired"),
    (R, set_path("rules.0.resources", DELETE), "rules[0].resources", "FieldValueRequired"),
    (R, set_path("rules.0.verbs", "get"), "rules[0].verbs", "FieldValueInvalid"),
    (R, set_path("rules.0", {"verbs": ["get"], "nonResourceURLs": ["/x"]}),
     "rules[0].nonResourceURLs", "FieldValueInvalid"),
    (R, set_path("rules", "all"), "rules", "FieldValueInvalid"),
    (CR, set_path("rules.0.apiGroups", [""]), "rules[0].nonResourceURLs", "FieldValueInvalid"),
    (CR, set_path("aggregationRule.clusterRoleSelectors", []),
     "aggregationRule.clusterRoleSelectors", "FieldValueRequired"),
    (CR, set_path("aggregationRule.clusterRoleSelectors.0", {"matchLabels": 3}),
     "aggregationRule.clusterRoleSelectors[0]", "FieldValueInvalid"),
    (RB, set_path("roleRef", DELETE), "roleRef", "FieldValueRequired"),
    (RB, set_path("roleRef.kind", "Pod"), "roleRef.kind", "FieldValueNotSupported"),
    (RB, set_path("roleRef.apiGroup", "apps"), "roleRef.apiGroup", "FieldValueNotSupported"),
    (RB, set_path("roleRef.name", ""), "roleRef.name", "FieldValueRequired"),
    (RB, set_path("roleRef.name", "a%b"), "roleRef.name", "FieldValueInvalid"),
    (RB, set_path("subjects.0.kind", "Robot"), "subjects[0].kind", "FieldValueNotSupported"),
    (RB, set_path("subjects.0.name", ""), "subjects[0].name", "FieldValueRequired"),
    (RB, set_path("subjects.0.apiGroup", "apps"), "subjects[0].apiGroup", "FieldValueNotSupported"),
    (RB, set_path("subjects.1.name", "Bad_SA"), "subjects[1].name", "FieldValueInvalid"),
    (RB, set_path("subjects.1.apiGroup", GROUP), "subjects[1].apiGroup", "FieldValueNotSupported"),
    (RB, set_path("subjects.0.name", 5), "subjects[0].name", "FieldValueInvalid"),
    (CRB, set_path("roleRef.kind", "Role"), "roleRef.kind", "FieldValueNotSupported"),
    (CRB, set_path("subjects.1.namespace", DELETE), "subjects[1].namespace", "FieldValueRequired"),
]


@pytest.mark.parametrize(("resource", "mutate", "path", "reason"), [
    pytest.param(r, m, p, why, id=f"{r.plural}:{p}:{i}")
    for i, (r, m, p, why) in enumerate(CASES)])
def test_invalid(resource: Resource, mutate: Callable[[Obj], None], path: str,
                 reason: str) -> None:
    obj = copy.deepcopy(VALID[resource])
    mutate(obj)
    assert [(c.field, c.reason) for c in created_causes(resource, obj)] == [(path, reason)]


def test_role_ref_is_immutable() -> None:
    strategy = strategy_for(RB)
    old = copy.deepcopy(VALID[RB])
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "other"
    assert [c.message for c in strategy.immutable_causes(new, old)] == [
        ('Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"other"}'
        ": cannot change roleRef")]


def test_defaults_fill_api_groups() -> None:
    obj: Obj = {"metadata": {"name": "b", "namespace": "default"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "name": "jane"},
                             {"kind": "ServiceAccount", "name": "default"}]}
    strategy_for(RB).default(obj)
    assert obj["roleRef"]["apiGroup"] == GROUP
    assert obj["subjects"] == [{"kind": "User", "name": "jane", "apiGroup": GROUP},
                               {"kind": "ServiceAccount", "name": "default"}]


def test_binding_rows() -> None:
    binding = {**VALID[RB], "metadata": table_meta("read-pods")}
    binding["subjects"] = [*binding["subjects"], {"kind": "Group", "name": "devs"}]
    assert table_row(RB, binding) == {
        "Name": "read-pods", "Role": "Role/pod-reader", "Age": "5m", "Users": "jane",
        "Groups": "devs", "ServiceAccounts": "/default"}
    cluster = {**VALID[CRB], "metadata": table_meta("read-all")}
    row = table_row(CRB, cluster, wide=False)
    assert row == {"Name": "read-all", "Role": "ClusterRole/view", "Age": "5m"}


def test_role_row_prints_created_at() -> None:
    assert table_row(CR, {**VALID[CR], "metadata": table_meta("r", 3600)}) == {
        "Name": "r", "Created At": "2024-05-01T11:00:00Z"}
    assert NOW.year == 2024
