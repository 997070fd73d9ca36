"""x-kubernetes-validations through cel-python: self, oldSelf and Kubernetes' messages."""

from __future__ import annotations

from typing import Any

from minikube_py.api import celrules

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"spec": {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.minReplicas <= self.maxReplicas",
         "message": "minReplicas cannot be larger than maxReplicas"},
        {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable",
         "fieldPath": ".mode"}],
    "properties": {
        "minReplicas": {"type": "integer"}, "maxReplicas": {"type": "integer"},
        "mode": {"type": "string"},
        "names": {"type": "array", "items": {
            "type": "string", "x-kubernetes-validations": [
                {"rule": "self.startsWith('n-')"}]}}}}}}


def messages(obj: Any, old: Any = None, *, transition: bool = False) -> dict[str, str]:
    return {c.field: c.message for c in celrules.rule_causes(obj, SCHEMA, old,
                                                               transition=transition)}


def test_rule_with_message_and_without() -> None:
    assert messages({"spec": {"minReplicas": 1, "maxReplicas": 2, "names": ["n-a"]}}) == {}
    assert messages({"spec": {"minReplicas": 3, "maxReplicas": 2, "names": ["x"]}}) == {
        "spec": 'Invalid value: "object": minReplicas cannot be larger than maxReplicas',
        "spec.names[0]": 'Invalid value: "string": failed rule: self.startsWith(\'n-\')'}


def test_transition_rules_see_old_self_only_on_update() -> None:
    new = {"spec": {"minReplicas": 1, "maxReplicas": 2, "mode": "b"}}
    assert messages(new, transition=True) == {}  # a create: no oldSelf, not run
    old = {"spec": {"minReplicas": 1, "maxReplicas": 2, "mode": "a"}}
    assert messages(new, old, transition=True) == {
        "spec.mode": 'Invalid value: "object": mode is immutable'}
    assert messages(new, new, transition=True) == {}


def test_a_rule_that_cannot_evaluate_fails_and_bad_rules_do_not_compile() -> None:
    found = messages({"spec": {"maxReplicas": 2}})  # no minReplicas: evaluation error
    assert found["spec"].startswith('Invalid value: "object": minReplicas cannot be larger')
    bad = {"type": "object", "x-kubernetes-validations": [{"rule": "self.a <="}, {}]}
    fields = [c.field for c in celrules.compile_causes(bad, "s")]
    assert fields == ["s.x-kubernetes-validations[0].rule", "s.x-kubernetes-validations[1].rule"]
