"""x-kubernetes-validations: CEL rules of a CRD schema, evaluated with cel-python.

Each rule sees the value at its schema node as `self` and, for a transition rule (one
that names `oldSelf`), the stored value as `oldSelf`; transition rules run only on
updates where the old value exists unless they set `optionalOldSelf`, which runs them
on creates and new values too with `oldSelf` a CEL optional (celoptional.py), as in
Kubernetes: map values correlate by key, items
of a listType=map list by their map keys, other list items not at all. A failed rule is
Kubernetes' cause: `spec: Invalid value: "object": <message>` (the node's type as the
value; the rule's messageExpression, else its `message`, else `failed rule: <rule>`),
at the rule's `fieldPath` if it names one, worded by its `reason`.
Programs are compiled once per rule text (compiling costs ~17 ms, evaluating ~1 us).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from minikube_py.api import celoptional, field
from minikube_py.api.errors import Cause
from minikube_py.api.types import Object

log = logging.getLogger(__name__)
_ENVELOPE = ("apiVersion", "kind", "metadata")
REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
           "FieldValueRequired")


@functools.lru_cache(maxsize=1024)
def _program(rule: str) -> Any:
    """The compiled rule (raises celpy.CELParseError for a malformed one)."""
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=celoptional.FUNCTIONS)


def compile_causes(schema: Any, path: str) -> list[Cause]:
    """Every rule of a CRD schema that does not compile, for the CRD's own validation."""
    causes: list[Cause] = []
    for node, node_path in _nodes(schema, path):
        for i, rule in enumerate(_rules(node)):
            text = rule.get("rule")
            rule_path = f"{node_path}.x-kubernetes-validations[{i}].rule"
            if not isinstance(text, str) or not text:
                causes.append(field.required(rule_path))
                continue
            try:
                _program(text)
            except Exception as e:  # noqa: BLE001 - cel-python raises several kinds
                causes.append(field.invalid(rule_path, text, f"compilation failed: {e}"))
            causes.extend(_message_expression_causes(rule, rule_path.removesuffix(".rule")))
            if "optionalOldSelf" in rule and "oldSelf" not in text:
                causes.append(field.invalid(rule_path.removesuffix("rule") + "optionalOldSelf",
                                            rule["optionalOldSelf"],
                                            "may not be set if oldSelf is not used in rule"))
    return causes


def has_optional_old_self(schema: Any) -> bool:
    """Whether any rule opts into running on create (optionalOldSelf: true)."""
    return any(rule.get("optionalOldSelf") is True
               for node, _ in _nodes(schema, "") for rule in _rules(node))


def _message_expression_causes(rule: Object, path: str) -> list[Cause]:
    expression, reason = rule.get("messageExpression"), rule.get("reason")
    causes = []
    if reason is not None and reason not in REASONS:
        causes.append(field.not_supported(f"{path}.reason", reason, REASONS))
    if expression is None:
        return causes
    if not isinstance(expression, str) or not expression.strip():
        return [*causes, field.required(f"{path}.messageExpression", "messageExpression "
                                        "must be non-empty if specified")]
    try:
        _program(expression)
    except Exception as e:  # noqa: BLE001 - cel-python raises several kinds
        causes.append(field.invalid(f"{path}.messageExpression", expression,
                                    f"messageExpression compilation failed: {e}"))
    return causes


def _nodes(schema: Any, path: str) -> Iterator[tuple[Object, str]]:
    if not isinstance(schema, dict):
        return
    yield schema, path
    for key, child in (schema.get("properties") or {}).items():
        yield from _nodes(child, f"{path}.properties[{key}]")
    for key in ("items", "additionalProperties"):
        yield from _nodes(schema.get(key), f"{path}.{key}")


def _rules(schema: Object) -> list[Object]:
    rules = schema.get("x-kubernetes-validations")
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def rule_causes(value: Any, schema: Object, old: Any = None, *, transition: bool) -> list[Cause]:
    """Failed rules over an object (its envelope aside). `transition` False runs the rules
    without oldSelf; True runs only those with it, where `old` holds a value or the rule
    has optionalOldSelf (`old` None: a create)."""
    body = {k: v for k, v in value.items() if k not in _ENVELOPE} \
        if isinstance(value, dict) else value
    return list(_check(body, schema, old, "", transition))


def _check(value: Any, schema: Any, old: Any, path: str, transition: bool
           ) -> Iterator[Cause]:
    if not isinstance(schema, dict) or value is None:
        return
    for rule in _rules(schema):
        text = rule.get("rule")
        if not isinstance(text, str) or ("oldSelf" in text) != transition:
            continue
        optional = rule.get("optionalOldSelf") is True
        if transition and old is None and not optional:
            continue
        cause = _failure(rule, text, value, old, path, str(schema.get("type", "")),
                         optional=optional)
        if cause is not None:
            yield cause
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = props.get(key) if key in props else extra
            child_path = f"{path}.{key}" if path else key
            yield from _check(item, child, old.get(key) if isinstance(old, dict) else None,
                              child_path if key in props else f"{path}[{key}]", transition)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        olds = _correlated(value, old, schema)
        for i, item in enumerate(value):
            yield from _check(item, schema["items"], olds[i], f"{path}[{i}]", transition)


def _correlated(items: list[Any], old: Any, schema: Object) -> list[Any]:
    """Each item's old value, as Kubernetes correlates them: by the map keys of a
    listType=map list; items of any other list have none (their transition rules do not
    run)."""
    keys = schema.get("x-kubernetes-list-map-keys")
    if schema.get("x-kubernetes-list-type") != "map" or not isinstance(keys, list) \
            or not isinstance(old, list):
        return [None] * len(items)

    def key_of(item: Any) -> tuple[Any, ...] | None:
        return tuple(repr(item.get(k)) for k in keys) if isinstance(item, dict) else None
    previous = {key_of(o): o for o in old if key_of(o) is not None}
    return [previous.get(key_of(item)) if key_of(item) is not None else None
            for item in items]


def _failure(rule: Object, text: str, value: Any, old: Any, path: str, type_name: str, *,
             optional: bool) -> Cause | None:
    """Kubernetes' cause for a rule that does not hold at `path`, or None. A rule that
    cannot evaluate is `<error> evaluating rule: <message or rule>`; a false one says its
    messageExpression's string, else its message, else `failed rule: <rule>`, at its
    fieldPath, worded by its reason."""
    activation: dict[str, Any] = {"self": json_to_cel(value), "optional": celoptional.LIBRARY}
    if optional:
        activation["oldSelf"] = celoptional.NONE if old is None \
            else celoptional.of(json_to_cel(old))
    elif old is not None:
        activation["oldSelf"] = json_to_cel(old)
    message = str(rule.get("message") or "").strip()
    result = _run(text, activation)
    if isinstance(result, str):
        return field.invalid(path or "<nil>", type_name,
                             f"{result} evaluating rule: {message or text.strip()}")
    if result:
        return None
    detail = _expressed(rule.get("messageExpression"), activation) or message \
        or f"failed rule: {text.strip()}"
    where = path + str(rule.get("fieldPath") or "") or "<nil>"
    reason = rule.get("reason")
    if reason == "FieldValueForbidden":
        return field.forbidden(where, detail)
    if reason == "FieldValueRequired":
        return field.required(where, detail)
    if reason == "FieldValueDuplicate":
        return field.duplicate(where, type_name)
    return field.invalid(where, type_name, detail)


def _run(text: str, activation: dict[str, Any]) -> bool | str:
    """Whether the rule holds, or the error it met (cel-go's wording where it differs)."""
    try:
        result = _program(text).evaluate(activation)
    except CELEvalError as e:
        return _error_text(e)
    except Exception as e:  # noqa: BLE001 - refused at CRD write; evaluation errors fail it
        return str(e)
    if isinstance(result, CELEvalError):
        return _error_text(result)
    return isinstance(result, celtypes.BoolType) and bool(result)


def _error_text(error: CELEvalError) -> str:
    text = str(error.args[0]) if error.args else str(error)
    cause = error.args[1] if len(error.args) > 1 else None
    if cause is KeyError and ": " in text:
        return "no such key: " + text.split(": ", 1)[1].strip("'")
    if cause is ZeroDivisionError:
        return "division by zero"
    return text


def _expressed(expression: Any, activation: dict[str, Any]) -> str:
    """A messageExpression's message; "" (the static message is used) when it fails or is
    not a non-blank single-line string, as Kubernetes falls back."""
    if not isinstance(expression, str) or not expression:
        return ""
    try:
        result = _program(expression).evaluate(activation)
    except Exception:  # noqa: BLE001 - any failure falls back to the message
        return ""
    if not isinstance(result, str) or not result.strip() or "\n" in result:
        return ""
    return str(result)
