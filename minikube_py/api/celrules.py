"""x-kubernetes-validations: CEL rules of a CRD schema, evaluated with cel-python.

Each rule sees the value at its schema node as `self` and, for a transition rule (one
that names `oldSelf`), the stored value as `oldSelf`; transition rules run only on
updates where the old value exists, as in Kubernetes. A failed rule is Kubernetes'
cause: `spec: Invalid value: "object": <message>` (the node's type as the value; the
rule's `message`, or `failed rule: <rule>`), at the rule's `fieldPath` if it names one.
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

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.types import Object

log = logging.getLogger(__name__)
_ENVELOPE = ("apiVersion", "kind", "metadata")


@functools.lru_cache(maxsize=1024)
def _program(rule: str) -> Any:
    """The compiled rule (raises celpy.CELParseError for a malformed one)."""
    env = celpy.Environment()
    return env.program(env.compile(rule))


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
    without oldSelf; True runs only those with it, where `old` holds a value."""
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
        if transition and old is None:
            continue
        failed = _evaluate(text, value, old)
        if failed is not None:
            where = path + str(rule.get("fieldPath") or "")
            detail = rule.get("message") or failed
            yield Cause(where or "<nil>", f'Invalid value: "{schema.get("type", "object")}": '
                        f"{detail}", str(rule.get("reason") or "FieldValueInvalid"))
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = props.get(key) if key in props else extra
            child_path = f"{path}.{key}" if path else key
            yield from _check(item, child, old.get(key) if isinstance(old, dict) else None,
                              child_path if key in props else f"{path}[{key}]", transition)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            previous = old[i] if isinstance(old, list) and i < len(old) else None
            yield from _check(item, schema["items"], previous, f"{path}[{i}]", transition)


def _evaluate(rule: str, value: Any, old: Any) -> str | None:
    """None if the rule holds, else why not (Kubernetes' wording)."""
    try:
        program = _program(rule)
    except Exception:  # noqa: BLE001 - refused when the CRD was written; be safe
        return f"failed rule: {rule}"
    activation = {"self": json_to_cel(value)}
    if old is not None:
        activation["oldSelf"] = json_to_cel(old)
    try:
        result = program.evaluate(activation)
    except Exception as e:  # noqa: BLE001 - evaluation errors are the rule failing
        return f"failed rule: {rule}: {e}"
    if isinstance(result, celtypes.BoolType) and bool(result):
        return None
    if isinstance(result, CELEvalError):
        return f"failed rule: {rule}: {result.args[0] if result.args else result}"
    return f"failed rule: {rule}"
