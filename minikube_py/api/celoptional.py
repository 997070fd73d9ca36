"""CEL optional values (cel-go's `optional` library) for cel-python, which has none.

Kubernetes gives a transition rule with `optionalOldSelf: true` its `oldSelf` as an
optional: `optional.none()` on create or where no old value correlates, else
`optional.of(old)`. Rules read it with `hasValue()`, `value()`, `orValue(x)`, `or(o)` and
compare it with `==`; `optional.of(x)`, `optional.ofNonZeroValue(x)` and
`optional.none()` make one. cel-python parses `optional.none()` as the method `none` of
a variable `optional`, so `optional` is a marker bound in every activation and the
constructors are methods of it. (The `.?field` syntax is not in cel-python's grammar:
such a rule fails to compile, and the CRD that holds it is refused.)
"""

from __future__ import annotations

from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError


class Optional:
    """An optional CEL value: present with `value`, or none."""

    __slots__ = ("present", "value")

    def __init__(self, value: Any = None, *, present: bool = False) -> None:
        self.present = present
        self.value = value

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Optional) and self.present == other.present
                and (not self.present or bool(self.value == other.value)))

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((self.present, repr(self.value)))

    def __repr__(self) -> str:
        return f"optional.of({self.value!r})" if self.present else "optional.none()"


class _Library:
    """The `optional` identifier itself (only its methods mean anything)."""


LIBRARY = _Library()
NONE = Optional()


def of(value: Any) -> Optional:
    return Optional(value, present=True)


def _no_overload(name: str, *args: Any) -> CELEvalError:
    types = ", ".join(type(a).__name__ for a in args)
    return CELEvalError(f"no such overload: {name}({types})")


def _none(library: Any) -> Optional | CELEvalError:
    return NONE if library is LIBRARY else _no_overload("none", library)


def _of(library: Any, value: Any) -> Optional | CELEvalError:
    return of(value) if library is LIBRARY else _no_overload("of", library, value)


def _of_non_zero_value(library: Any, value: Any) -> Optional | CELEvalError:
    if library is not LIBRARY:
        return _no_overload("ofNonZeroValue", library, value)
    return NONE if value is None or not value else of(value)  # false, 0, "", [], {}, null


def _has_value(opt: Any) -> celtypes.BoolType | CELEvalError:
    if not isinstance(opt, Optional):
        return _no_overload("hasValue", opt)
    return celtypes.BoolType(opt.present)


def _value(opt: Any) -> Any:
    if not isinstance(opt, Optional):
        return _no_overload("value", opt)
    return opt.value if opt.present else CELEvalError("optional.none() dereference")


def _or_value(opt: Any, default: Any) -> Any:
    if not isinstance(opt, Optional):
        return _no_overload("orValue", opt, default)
    return opt.value if opt.present else default


def _or(opt: Any, other: Any) -> Any:
    if not isinstance(opt, Optional) or not isinstance(other, Optional):
        return _no_overload("or", opt, other)
    return opt if opt.present else other


FUNCTIONS: dict[str, Any] = {
    "none": _none, "of": _of, "ofNonZeroValue": _of_non_zero_value,
    "hasValue": _has_value, "value": _value, "orValue": _or_value, "or": _or,
}
