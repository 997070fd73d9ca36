"""x-kubernetes-validations through cel-python: self, oldSelf and Kubernetes' messages."""

from __future__ import annotations

from typing import Any

import pytest

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
    assert found["spec"] == ('Invalid value: "object": no such key: minReplicas evaluating '
                             "rule: minReplicas cannot be larger than maxReplicas")
    bad = {"type": "object", "x-kubernetes-validations": [{"rule": "self.a <="}, {}]}
    fields = [c.field for c in celrules.compile_causes(bad, "s")]
    assert fields == ["s.x-kubernetes-validations[0].rule", "s.x-kubernetes-validations[1].rule"]


def _causes(schema: dict[str, Any], obj: Any, old: Any = None, *,
            transition: bool = False) -> list[tuple[str, str, str]]:
    return [(c.field, c.message, c.reason) for c in celrules.rule_causes(
        obj, {"type": "object", "properties": {"spec": schema}}, old, transition=transition)]


def test_message_expression_then_message_then_the_rule() -> None:
    spec = {"type": "object", "properties": {"n": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "self.n < 3", "message": "static",
                 "messageExpression": "'n is ' + string(self.n)"},
                {"rule": "self.n < 2", "message": "static", "messageExpression": "self.n"},
                {"rule": "self.n < 1", "messageExpression": "'two\\nlines'"}]}
    assert [m for _, m, _ in _causes(spec, {"spec": {"n": 5}})] == [
        'Invalid value: "object": n is 5',
        'Invalid value: "object": static',  # not a string: the message
        'Invalid value: "object": failed rule: self.n < 1']  # not one line: the default


@pytest.mark.parametrize("reason,message", [
    ("FieldValueForbidden", "Forbidden: no"),
    ("FieldValueRequired", "Required value: no"),
    ("FieldValueDuplicate", 'Duplicate value: "object"'),
    ("FieldValueInvalid", 'Invalid value: "object": no'),
])
def test_the_reason_words_the_cause(reason: str, message: str) -> None:
    spec = {"type": "object", "x-kubernetes-validations": [
        {"rule": "false", "message": "no", "reason": reason, "fieldPath": ".x"}]}
    assert _causes(spec, {"spec": {}}) == [("spec.x", message, reason)]


def test_old_list_items_correlate_by_map_keys_only() -> None:
    item = {"type": "object", "properties": {"name": {"type": "string"},
                                             "v": {"type": "integer"}},
            "x-kubernetes-validations": [{"rule": "self.v == oldSelf.v",
                                          "message": "v is immutable"}]}
    as_map = {"type": "array", "items": item, "x-kubernetes-list-type": "map",
              "x-kubernetes-list-map-keys": ["name"]}
    old = {"spec": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}
    moved = {"spec": [{"name": "b", "v": 2}, {"name": "a", "v": 1}, {"name": "c", "v": 9}]}
    assert _causes(as_map, moved, old, transition=True) == []  # reordered, c is new
    changed = {"spec": [{"name": "b", "v": 3}]}
    assert _causes(as_map, changed, old, transition=True) == [
        ("spec[0]", 'Invalid value: "object": v is immutable', "FieldValueInvalid")]
    atomic = {**as_map, "x-kubernetes-list-type": "atomic"}
    assert _causes(atomic, changed, old, transition=True) == []  # no old item to compare


def test_message_expressions_and_reasons_are_checked_with_the_crd() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [
        {"rule": "true", "messageExpression": "self.a +"},
        {"rule": "true", "messageExpression": " "},
        {"rule": "true", "reason": "FieldValueWrong"}]}
    causes = {c.field: c.message for c in celrules.compile_causes(schema, "s")}
    assert causes["s.x-kubernetes-validations[0].messageExpression"].startswith(
        'Invalid value: "self.a +": messageExpression compilation failed')
    assert causes["s.x-kubernetes-validations[1].messageExpression"] == (
        "Required value: messageExpression must be non-empty if specified")
    assert causes["s.x-kubernetes-validations[2].reason"] == (
        'Unsupported value: "FieldValueWrong": supported values: "FieldValueDuplicate", '
        '"FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"')


OPTIONAL: dict[str, Any] = {"type": "object", "properties": {
    "name": {"type": "string"}, "size": {"type": "integer"}},
    "x-kubernetes-validations": [
        {"rule": "oldSelf.hasValue() || self.name.startsWith('a')", "optionalOldSelf": True,
         "message": "new gadgets are named a*"},
        {"rule": "!oldSelf.hasValue() || self.size >= oldSelf.value().size",
         "optionalOldSelf": True, "message": "size only grows"}]}


def test_optional_old_self_runs_on_create_with_none_and_on_update_with_the_old() -> None:
    assert _causes(OPTIONAL, {"spec": {"name": "bob", "size": 1}}, transition=True) == [
        ("spec", 'Invalid value: "object": new gadgets are named a*', "FieldValueInvalid")]
    assert _causes(OPTIONAL, {"spec": {"name": "al", "size": 1}}, transition=True) == []
    old = {"spec": {"name": "bob", "size": 2}}  # stored before the rule: it ratchets
    assert _causes(OPTIONAL, {"spec": {"name": "bob", "size": 3}}, old, transition=True) == []
    assert _causes(OPTIONAL, {"spec": {"name": "bob", "size": 1}}, old, transition=True) == [
        ("spec", 'Invalid value: "object": size only grows', "FieldValueInvalid")]


def test_optional_old_self_runs_for_new_list_items() -> None:
    """An item no old item correlates with gets oldSelf none (a plain transition rule
    does not run there at all)."""
    listed = {"type": "array", "x-kubernetes-list-type": "map",
              "x-kubernetes-list-map-keys": ["name"], "items": OPTIONAL}
    old = {"spec": [{"name": "bob", "size": 1}]}
    new = {"spec": [{"name": "bob", "size": 1}, {"name": "carl", "size": 1}]}
    assert _causes(listed, new, old, transition=True) == [
        ("spec[1]", 'Invalid value: "object": new gadgets are named a*', "FieldValueInvalid")]


@pytest.mark.parametrize("rule,old,holds", [
    ("oldSelf == optional.none()", None, True),
    ("oldSelf == optional.none()", 1, False),
    ("oldSelf == optional.of(1)", 1, True),
    ("oldSelf != optional.of(2)", 1, True),
    ("self == oldSelf.orValue(5)", None, True),
    ("self == oldSelf.orValue(5)", 4, False),
    ("oldSelf.or(optional.of(5)).value() == self", None, True),
    ("oldSelf.or(optional.of(5)).value() == 4", 4, True),
    ("!optional.ofNonZeroValue(0).hasValue() && optional.ofNonZeroValue(self).hasValue()",
     None, True),
    ("optional.ofNonZeroValue('').orValue('x') == 'x'", None, True),
])
def test_the_optional_library(rule: str, old: Any, holds: bool) -> None:
    schema = {"type": "integer",
              "x-kubernetes-validations": [{"rule": rule, "optionalOldSelf": True}]}
    assert (_causes(schema, {"spec": 5}, None if old is None else {"spec": old},
                    transition=True) == []) is holds


def test_dereferencing_none_is_an_evaluation_error() -> None:
    schema = {"type": "integer", "x-kubernetes-validations": [
        {"rule": "self > oldSelf.value()", "optionalOldSelf": True}]}
    assert _causes(schema, {"spec": 5}, transition=True) == [
        ("spec", ('Invalid value: "integer": optional.none() dereference evaluating rule: '
                 "self > oldSelf.value()"), "FieldValueInvalid")]


def test_optional_old_self_needs_a_rule_that_uses_old_self() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [
        {"rule": "self.a > 0", "optionalOldSelf": False},
        {"rule": "self.a >= oldSelf.a", "optionalOldSelf": True}]}
    assert [str(c) for c in celrules.compile_causes(schema, "s")] == [
        ("s.x-kubernetes-validations[0].optionalOldSelf: Invalid value: false: may not be set "
        "if oldSelf is not used in rule")]
