"""Label and field selectors, with apimachinery's grammar and semantics.

Label selectors come as query text (`app=web,tier in (a,b),!canary`) or as a
metav1.LabelSelector dict (matchLabels/matchExpressions); both become the same
list of requirements. Field selectors are `key=value` terms joined by commas,
matched against the flat dict each kind's strategy exposes. A bad query string
is the client's fault: 400 with a message naming the term.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.api import errors
from minikube_py.api.meta import label_key_errors, label_value_errors

_OPERATORS = ("in", "notin", "exists", "!", "=", "==", "!=", "gt", "lt")
_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|=|!|\(|\)|,|>|<)|(?P<word>[^\s=!(),<>]+))")


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term."""

    key: str
    operator: str  # one of _OPERATORS
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "==", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if not present or value is None:
            return False
        try:
            have, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator == "gt" else have < want


class LabelSelector:
    """A conjunction of requirements; `None` requirements means "matches nothing"."""

    def __init__(self, requirements: list[Requirement] | None) -> None:
        self.requirements = requirements

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls([])

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(None)

    @property
    def is_everything(self) -> bool:
        return self.requirements == []

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.requirements is None:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse `?labelSelector=` text; raises StatusError 400 on bad syntax."""
        if text is None or not text.strip():
            return cls.everything()
        try:
            return cls(_LabelParser(text).parse())
        except ValueError as e:
            raise errors.bad_request(f"unable to parse requirement: {e}") from e

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """A metav1.LabelSelector; None matches nothing, {} everything (as Kubernetes).

        Raises ValueError on a malformed selector; validation reports it as a field cause.
        """
        if selector is None:
            return cls.nothing()
        if not isinstance(selector, Mapping):
            raise ValueError("must be an object")  # noqa: TRY004
        requirements: list[Requirement] = []
        match_labels = selector.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise ValueError("matchLabels must be an object")  # noqa: TRY004
        for key, value in sorted(match_labels.items()):
            if not isinstance(value, str):
                raise ValueError(f"matchLabels[{key}] must be a string")  # noqa: TRY004
            requirements.append(Requirement(str(key), "=", (value,)))
        expressions = selector.get("matchExpressions") or []
        if not isinstance(expressions, list):
            raise ValueError("matchExpressions must be a list")  # noqa: TRY004
        for expression in expressions:
            requirements.append(_expression(expression))
        return cls(requirements)

    def to_text(self) -> str:
        """The canonical query text, as kubectl's SELECTOR column shows it."""
        if self.requirements is None:
            return ""
        ordered = sorted(self.requirements, key=lambda r: r.key)
        return ",".join(_requirement_text(r) for r in ordered)

    def __str__(self) -> str:
        return self.to_text()


def _requirement_text(r: Requirement) -> str:
    if r.operator in ("=", "=="):
        return f"{r.key}={r.values[0]}"
    if r.operator == "!=":
        return f"{r.key}!={r.values[0]}"
    if r.operator == "exists":
        return r.key
    if r.operator == "!":
        return f"!{r.key}"
    if r.operator in ("gt", "lt"):
        return f"{r.key}{'>' if r.operator == 'gt' else '<'}{r.values[0]}"
    return f"{r.key} {r.operator} ({','.join(sorted(r.values))})"


def _expression(expression: Any) -> Requirement:
    if not isinstance(expression, Mapping):
        raise ValueError("matchExpressions entries must be objects")  # noqa: TRY004
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str) or not key:
        raise ValueError("matchExpressions key is required")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"values for {key!r} must be a list of strings")
    if operator in ("In", "NotIn"):
        if not values:
            raise ValueError(f"for 'in', 'notin' operators, values set can't be empty ({key})")
        return Requirement(key, operator.lower(), tuple(values))
    if operator in ("Exists", "DoesNotExist"):
        if values:
            raise ValueError(f"values set must be empty for exists and does not exist ({key})")
        return Requirement(key, "exists" if operator == "Exists" else "!")
    raise ValueError(f'"{operator}" is not a valid label selector operator')


class _LabelParser:
    """Recursive-descent parser for apimachinery's label selector grammar."""

    def __init__(self, text: str) -> None:
        self.tokens = self._lex(text)
        self.pos = 0

    @staticmethod
    def _lex(text: str) -> list[str]:
        tokens, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise ValueError(f"unexpected character at position {pos} in {text!r}")
            tokens.append(match["op"] or match["word"])
            pos = match.end()
        return tokens

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> str | None:
        token = self._peek()
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements = [self._requirement()]
        while self._peek() is not None:
            if self._next() != ",":
                raise ValueError(f"expected ',' after {requirements[-1].key!r}")
            requirements.append(self._requirement())
        return requirements

    def _key(self, token: str | None) -> str:
        if token is None or token in "=!(),<>" or token in ("==", "!="):
            raise ValueError(f"found {token!r}, expected: identifier")
        problems = label_key_errors(token)
        if problems:
            raise ValueError(f"key: Invalid value: {token!r}: {problems[0]}")
        return token

    def _value(self, token: str | None, *, allow_empty: bool = False) -> str:
        if token is None or token in ("(", ")", ",", "=", "==", "!=", "!", "<", ">"):
            if allow_empty:
                self.pos -= 1
                return ""
            raise ValueError(f"found {token!r}, expected: value")
        problems = label_value_errors(token)
        if problems:
            raise ValueError(f"values[0]: Invalid value: {token!r}: {problems[0]}")
        return token

    def _requirement(self) -> Requirement:
        token = self._next()
        if token == "!":
            return Requirement(self._key(self._next()), "!")
        key = self._key(token)
        op = self._peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        self.pos += 1
        if op in ("=", "==", "!="):
            value = self._value(self._next(), allow_empty=True)
            return Requirement(key, op, (value,))
        if op in (">", "<"):
            value = self._value(self._next())
            if not value.lstrip("-").isdigit():
                raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer ({key})")
            return Requirement(key, "gt" if op == ">" else "lt", (value,))
        if op in ("in", "notin"):
            return Requirement(key, op, self._set())
        raise ValueError(f"found {op!r}, expected: in, notin, =, ==, !=, gt, lt")

    def _set(self) -> tuple[str, ...]:
        if self._next() != "(":
            raise ValueError("found missing '(', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            token = self._next()
            if token is None:
                raise ValueError("found end of input, expected: ')'")
            if token == ")":
                if expect_value and values:
                    values.append("")  # "(a,)" holds the empty value too
                if not values:
                    raise ValueError("for 'in', 'notin' operators, values set can't be empty")
                return tuple(values)
            if token == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not expect_value:
                raise ValueError(f"found {token!r}, expected: ',' or ')'")
            values.append(self._value(token))
            expect_value = False


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=" or "!="
    value: str


class FieldSelector:
    """`metadata.name=x,spec.nodeName!=` matched against a kind's field values."""

    def __init__(self, requirements: list[FieldRequirement]) -> None:
        self.requirements = requirements

    @property
    def is_everything(self) -> bool:
        return not self.requirements

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        if text is None or not text.strip():
            return cls([])
        requirements = []
        for term in _split_unescaped(text, ","):
            if not term:
                continue
            requirements.append(_field_term(term))
        return cls(requirements)

    def fields(self) -> list[str]:
        return [r.field for r in self.requirements]

    def check_supported(self, supported: set[str] | frozenset[str]) -> None:
        """400 for a field the kind cannot be selected by, as kube-apiserver answers."""
        for r in self.requirements:
            if r.field not in supported:
                raise errors.bad_request(f'field label not supported: {r.field}')

    def matches(self, fields: Mapping[str, str]) -> bool:
        for r in self.requirements:
            have = fields.get(r.field, "")
            if (have == r.value) != (r.operator == "="):
                return False
        return True

    def value_of(self, field: str) -> str | None:
        """The value an equality term demands (lets the server narrow a list)."""
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        raise errors.bad_request(f"invalid field selector: {text!r}: trailing backslash")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out, escaped = [], False
    for ch in text:
        if escaped:
            if ch not in "\\,=!":
                raise errors.bad_request(f"invalid field selector: invalid escape sequence \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _field_term(term: str) -> FieldRequirement:
    for op in ("!=", "==", "="):
        index = _find_unescaped(term, op)
        if index >= 0:
            field = term[:index].strip()
            if not field:
                raise errors.bad_request(f"invalid selector: '{term}'; can't understand '{term}'")
            return FieldRequirement(field, "!=" if op == "!=" else "=",
                                    _unescape(term[index + len(op):]))
    raise errors.bad_request(f"invalid selector: '{term}'; can't understand '{term}'")


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            return i
        i += 1
    return -1
