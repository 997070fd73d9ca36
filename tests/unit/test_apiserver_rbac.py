"""RBAC decisions, table-driven: rule matching (RuleAllows), coverage (escalation
prevention), and the index's bindings-by-subject, fed objects directly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube_py.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES
from minikube_py.apiserver.authn import User
from minikube_py.apiserver.rbac_index import RbacIndex
from minikube_py.apiserver.rbac_rules import (
    Attributes,
    Rule,
    RuleSet,
    compact_string,
    compile_rules,
    uncovered,
)

GROUP = "rbac.authorization.k8s.io"


def rule(**fields: Any) -> Rule:
    return Rule.of(fields)


POD_READER = rule(verbs=["get", "list"], apiGroups=[""], resources=["pods"])
ALLOWS = [
    (POD_READER, Attributes("get", "ns", "", "pods", "", "web"), True),
    (POD_READER, Attributes("delete", "ns", "", "pods", "", "web"), False),
    (POD_READER, Attributes("get", "ns", "apps", "pods", "", "web"), False),
    (POD_READER, Attributes("get", "ns", "", "pods", "log", "web"), False),
    (POD_READER, Attributes("get", "ns", "", "secrets"), False),
    (rule(verbs=["create"], apiGroups=[""], resources=["pods/exec"]),
     Attributes("create", "ns", "", "pods", "exec", "web"), True),
    (rule(verbs=["create"], apiGroups=[""], resources=["pods/exec"]),
     Attributes("create", "ns", "", "pods", "", "web"), False),
    (rule(verbs=["get"], apiGroups=["apps"], resources=["*/scale"]),
     Attributes("get", "ns", "apps", "deployments", "scale", "d"), True),
    (rule(verbs=["get"], apiGroups=["apps"], resources=["*/scale"]),
     Attributes("get", "ns", "apps", "deployments", "", "d"), False),
    (rule(verbs=["*"], apiGroups=["*"], resources=["*"]),
     Attributes("deletecollection", "ns", "x.io", "things", "status"), True),
    (rule(verbs=["get"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"]),
     Attributes("get", "ns", "", "configmaps", "", "a"), True),
    (rule(verbs=["get"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"]),
     Attributes("get", "ns", "", "configmaps", "", "b"), False),
    (rule(verbs=["list"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"]),
     Attributes("list", "ns", "", "configmaps"), False),  # a list names nothing
    (rule(verbs=["get"], nonResourceURLs=["/healthz", "/apis/*"]),
     Attributes("get", path="/apis/apps/v1"), True),
    (rule(verbs=["get"], nonResourceURLs=["/healthz"]), Attributes("get", path="/healthz/x"),
     False),
    (rule(verbs=["get"], nonResourceURLs=["*"]), Attributes("get", path="/metrics"), True),
    (rule(verbs=["get"], nonResourceURLs=["*"]), Attributes("get", "", "", "pods"), False),
    (POD_READER, Attributes("get", path="/api"), False),
]


@pytest.mark.parametrize(("rule_", "attrs", "allowed"), ALLOWS)
def test_rule_allows(rule_: Rule, attrs: Attributes, allowed: bool) -> None:
    assert rule_.allows(attrs) is allowed


COVERS = [
    ([POD_READER], [rule(verbs=["get"], apiGroups=[""], resources=["pods"])], []),
    ([POD_READER], [rule(verbs=["*"], apiGroups=[""], resources=["pods"])],
     ['{APIGroups:[""], Resources:["pods"], Verbs:["*"]}']),
    ([POD_READER], [rule(verbs=["get", "delete"], apiGroups=[""], resources=["pods"])],
     ['{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}']),
    ([rule(verbs=["get"], apiGroups=[""], resources=["*/log"])],
     [rule(verbs=["get"], apiGroups=[""], resources=["pods/log"])], []),
    ([rule(verbs=["get"], apiGroups=[""], resources=["secrets"], resourceNames=["a"])],
     [rule(verbs=["get"], apiGroups=[""], resources=["secrets"])],
     ['{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}']),
    ([rule(verbs=["get"], apiGroups=[""], resources=["secrets"])],
     [rule(verbs=["get"], apiGroups=[""], resources=["secrets"], resourceNames=["a", "b"])],
     []),
    ([rule(verbs=["get"], nonResourceURLs=["/apis/*"])],
     [rule(verbs=["get"], nonResourceURLs=["/apis/apps"])], []),
    ([rule(verbs=["get"], nonResourceURLs=["/apis/*"])],
     [rule(verbs=["get"], nonResourceURLs=["/metrics"])],
     ['{NonResourceURLs:["/metrics"], Verbs:["get"]}']),
    ([rule(verbs=["*"], apiGroups=["*"], resources=["*"])],
     [rule(verbs=["*"], apiGroups=["*"], resources=["*"])], []),
]


@pytest.mark.parametrize(("owned", "wanted", "missing"), COVERS)
def test_escalation_coverage(owned: list[Rule], wanted: list[Rule], missing: list[str]
                             ) -> None:
    assert sorted(compact_string(r) for r in uncovered(owned, wanted)) == missing


def _index() -> RbacIndex:
    index = RbacIndex(None, None)  # type: ignore[arg-type]  # fed by hand, never run
    index._apply(CLUSTERROLES, {"metadata": {"name": "view"},
                                "rules": [{"verbs": ["get"], "apiGroups": [""],
                                           "resources": ["pods"]}]})
    index._apply(ROLES, {"metadata": {"name": "cm", "namespace": "a"},
                         "rules": [{"verbs": ["*"], "apiGroups": [""],
                                    "resources": ["configmaps"]}]})
    index._apply(CLUSTERROLEBINDINGS, {
        "metadata": {"name": "devs-view"},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "name": "devs"}]})
    index._apply(ROLEBINDINGS, {
        "metadata": {"name": "cm", "namespace": "a"},
        "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "cm"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot"},
                     {"kind": "User", "name": "jane"}]})
    index._apply(ROLEBINDINGS, {
        "metadata": {"name": "view-b", "namespace": "b"},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "a"}]})
    return index


ROBOT = User("system:serviceaccount:a:robot", ("system:serviceaccounts",
                                                "system:serviceaccounts:a"))
DECISIONS = [
    (User("bob", ("devs",)), Attributes("get", "x", "", "pods"), True),
    (User("bob", ("devs",)), Attributes("get", "", "", "pods"), True),
    (User("bob", ("ops",)), Attributes("get", "x", "", "pods"), False),
    (ROBOT, Attributes("delete", "a", "", "configmaps"), True),
    (ROBOT, Attributes("delete", "b", "", "configmaps"), False),
    (ROBOT, Attributes("get", "b", "", "pods"), True),  # a ClusterRole bound in b only
    (ROBOT, Attributes("get", "c", "", "pods"), False),
    (User("system:serviceaccount:b:robot"), Attributes("get", "a", "", "configmaps"), False),
    (User("jane"), Attributes("update", "a", "", "configmaps"), True),
]


@pytest.mark.parametrize(("user", "attrs", "allowed"), DECISIONS)
def test_index_decisions(user: User, attrs: Attributes, allowed: bool) -> None:
    assert _index().allows(user, attrs) is allowed


def test_index_forgets_deleted_and_changed_bindings() -> None:
    index = _index()
    jane = User("jane")
    index._remove(ROLEBINDINGS, {"metadata": {"name": "cm", "namespace": "a"}})
    assert not index.allows(jane, Attributes("get", "a", "", "configmaps"))
    assert not index.allows(ROBOT, Attributes("get", "a", "", "configmaps"))
    index._apply(CLUSTERROLEBINDINGS, {
        "metadata": {"name": "devs-view"},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "jane"}]})
    assert index.allows(jane, Attributes("get", "z", "", "pods"))
    assert not index.allows(User("bob", ("devs",)), Attributes("get", "z", "", "pods"))
    index._apply(CLUSTERROLES, {"metadata": {"name": "view"}, "rules": []})
    assert not index.allows(jane, Attributes("get", "z", "", "pods"))


def test_rules_for_joins_cluster_and_namespace_rules() -> None:
    rules = _index().rules_for(ROBOT, "b")
    assert rules == list(compile_rules([{"verbs": ["get"], "apiGroups": [""],
                                         "resources": ["pods"]}]))


_words = st.sampled_from(["", "*", "pods", "pods/log", "*/log", "apps", "get", "list", "a"])
_rules = st.builds(lambda v, g, r, n: Rule(frozenset(v), frozenset(g), frozenset(r),
                                             frozenset(n)),
                   st.lists(_words, max_size=3), st.lists(_words, max_size=2),
                   st.lists(_words, max_size=3), st.lists(_words, max_size=2))
_attrs = st.builds(Attributes, st.sampled_from(["get", "list", "*"]), st.just("ns"),
                   st.sampled_from(["", "apps", "x"]), st.sampled_from(["pods", "a", "*"]),
                   st.sampled_from(["", "log", "status"]), st.sampled_from(["", "a", "b"]))


@settings(max_examples=500, deadline=None)
@given(rules=st.lists(_rules, max_size=6), attrs=_attrs)
def test_rule_set_decides_as_the_rules_do(rules: list[Rule], attrs: Attributes) -> None:
    assert RuleSet(rules).allows(attrs) is any(rule.allows(attrs) for rule in rules)
