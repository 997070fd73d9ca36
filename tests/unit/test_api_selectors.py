"""Label and field selectors: apimachinery's grammar, semantics and 400s."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.errors import StatusError
from minikube_py.api.selectors import FieldSelector, LabelSelector

LABELS = {"app": "web", "tier": "front", "version": "3", "team.io/owner": "ops"}


@pytest.mark.parametrize(("text", "matches"), [
    pytest.param("", True, id="empty-is-everything"),
    pytest.param("app=web", True, id="equals"),
    pytest.param("app==web", True, id="double-equals"),
    pytest.param("app=db", False, id="equals-miss"),
    pytest.param("app!=db", True, id="not-equals"),
    pytest.param("missing!=x", True, id="not-equals-absent-key"),
    pytest.param("tier in (front, back)", True, id="in"),
    pytest.param("tier in (back)", False, id="in-miss"),
    pytest.param("tier notin (back)", True, id="notin"),
    pytest.param("missing notin (x)", True, id="notin-absent-key"),
    pytest.param("app", True, id="exists"),
    pytest.param("missing", False, id="exists-miss"),
    pytest.param("!missing", True, id="does-not-exist"),
    pytest.param("!app", False, id="does-not-exist-miss"),
    pytest.param("version>2", True, id="gt"),
    pytest.param("version<2", False, id="lt"),
    pytest.param("app=web,tier=front,!canary", True, id="conjunction"),
    pytest.param("app=web,tier=back", False, id="conjunction-miss"),
    pytest.param("team.io/owner=ops", True, id="prefixed-key"),
    pytest.param("app=", False, id="empty-value"),
    pytest.param("  app = web  ,  tier  ", True, id="whitespace"),
])
def test_label_selector_matches(text: str, matches: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize("text", [
    "app=we b", "=x", "a in b", "a in ()", "a,,b", "a b", "a in (x", "-a=b", "a in (b c)",
    "a=b=c", "a>b", "a/=b", "app=" + "v" * 64, "k" * 64 + "=v", "a,", "!", "(a)"])
def test_label_selector_syntax_errors_are_400(text: str) -> None:
    with pytest.raises(StatusError) as caught:
        LabelSelector.parse(text)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert caught.value.message.startswith("unable to parse requirement: ")


@pytest.mark.parametrize(("selector", "matches"), [
    pytest.param({}, True, id="empty-dict-everything"),
    pytest.param({"matchLabels": {"app": "web"}}, True, id="match-labels"),
    pytest.param({"matchLabels": {"app": "db"}}, False, id="match-labels-miss"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "In",
                                        "values": ["front"]}]}, True, id="in"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                        "values": ["front"]}]}, False, id="notin"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True,
                 id="exists"),
    pytest.param({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False,
                 id="does-not-exist"),
    pytest.param({"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["back"]}]}, False, id="both"),
])
def test_label_selector_from_dict(selector: dict[str, Any], matches: bool) -> None:
    assert LabelSelector.from_dict(selector).matches(LABELS) is matches


def test_nil_selector_matches_nothing() -> None:
    assert LabelSelector.from_dict(None).matches(LABELS) is False
    assert LabelSelector.from_dict(None).matches({}) is False


@pytest.mark.parametrize("selector", [
    {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
    {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
    {"matchExpressions": [{"key": "a", "operator": "Near"}]},
    {"matchExpressions": [{"operator": "Exists"}]},
    {"matchLabels": {"a": 1}},
    {"matchLabels": ["a"]},
    "app=web",
])
def test_bad_selector_dicts_raise_value_error(selector: object) -> None:
    with pytest.raises(ValueError):
        LabelSelector.from_dict(selector)  # type: ignore[arg-type]  # bad input on purpose


def test_to_text_is_canonical_and_sorted() -> None:
    selector = LabelSelector.from_dict({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "c", "operator": "NotIn", "values": ["y", "x"]}, {"key": "aa", "operator": "Exists"}]})
    assert selector.to_text() == "a=1,aa,b=2,c notin (x,y)"
    assert LabelSelector.parse(selector.to_text()).matches({"a": "1", "aa": "", "b": "2"})


FIELDS = {"metadata.name": "web", "metadata.namespace": "default", "spec.nodeName": "",
          "status.phase": "Running"}


@pytest.mark.parametrize(("text", "matches"), [
    ("", True), ("metadata.name=web", True), ("metadata.name==web", True),
    ("metadata.name!=web", False), ("spec.nodeName=", True), ("spec.nodeName!=", False),
    ("status.phase=Running,metadata.namespace=default", True),
    ("status.phase=Running,metadata.namespace=other", False),
    ("involvedObject.name=x", False), ("involvedObject.name=", True),
])
def test_field_selector_matches(text: str, matches: bool) -> None:
    assert FieldSelector.parse(text).matches(FIELDS) is matches


def test_field_selector_escapes() -> None:
    selector = FieldSelector.parse(r"metadata.name=a\,b\=c")
    assert selector.matches({"metadata.name": "a,b=c"})
    assert selector.value_of("metadata.name") == "a,b=c"


@pytest.mark.parametrize("text", ["foo", "=x", "a\\", r"a=\q"])
def test_field_selector_syntax_errors_are_400(text: str) -> None:
    with pytest.raises(StatusError) as caught:
        FieldSelector.parse(text)
    assert caught.value.code == 400


def test_unsupported_field_is_400() -> None:
    with pytest.raises(StatusError) as caught:
        FieldSelector.parse("spec.foo=1").check_supported(frozenset({"metadata.name"}))
    assert caught.value.message == "field label not supported: spec.foo"
