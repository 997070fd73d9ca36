"""Kubernetes resource quantities ("100m", "0.5", "64Mi", "1G", "1e3"), parsed exactly.

Decimal arithmetic, never float: "0.1" CPU must be exactly 100 millicores, and
the scheduler sums requests of many pods. The grammar is apimachinery's
resource.Quantity: a signed decimal number followed by a binary suffix (Ki..Ei),
a decimal SI suffix (n, u, m, "", k, M, G, T, P, E) or a decimal exponent (e3).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
# apimachinery refuses exponents whose magnitude makes the value unrepresentable.
_MAX_EXPONENT = 38

QUANTITY_ERROR = "quantities must match the regular expression " \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def parse_quantity(value: str | float | Decimal) -> Decimal:
    """The exact value of a quantity; raises ValueError with Kubernetes' wording."""
    if isinstance(value, bool):
        raise ValueError(QUANTITY_ERROR)  # noqa: TRY004 - one error type for any bad input
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(QUANTITY_ERROR)
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(QUANTITY_ERROR)  # noqa: TRY004 - one error type for any bad input
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(QUANTITY_ERROR)
    try:
        number = Decimal(match["number"])
    except InvalidOperation as e:  # pragma: no cover - the regex admits only decimals
        raise ValueError(QUANTITY_ERROR) from e
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    exponent = int(suffix[1:])
    if abs(exponent) > _MAX_EXPONENT:
        raise ValueError(QUANTITY_ERROR)
    return number.scaleb(exponent)


def cpu_millis(value: str | float | Decimal) -> int:
    """Millicores, rounded up as Kubernetes' MilliValue does ("1n" -> 1)."""
    return int((parse_quantity(value) * 1000).to_integral_value(rounding=ROUND_CEILING))


def to_bytes(value: str | float | Decimal) -> int:
    """Whole bytes (or whole units of any integer resource), rounded up."""
    return int(parse_quantity(value).to_integral_value(rounding=ROUND_CEILING))


def format_quantity(value: Decimal | int, *, binary: bool = False) -> str:
    """Canonical text: the largest suffix that keeps the value an exact integer.

    Binary form ("64Mi") is used only for integers that a power of 1024 divides;
    everything else gets a decimal SI suffix (0.1 -> "100m", 1500000 -> "1500k").
    Values finer than a nano are rounded up, as apimachinery does.
    """
    value = Decimal(value)
    if binary and value == value.to_integral_value() and value != 0:
        whole = int(value)
        for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if whole % (1024 ** power) == 0:
                return f"{whole // 1024 ** power}{suffix}"
        return str(whole)
    nanos = (value * Decimal(10) ** 9).to_integral_value(rounding=ROUND_CEILING)
    if nanos == 0:
        return "0"
    for suffix, exponent in sorted(_DECIMAL.items(), key=lambda kv: -kv[1]):
        unit = Decimal(10) ** (exponent + 9)
        if nanos % unit == 0:
            return f"{int(nanos // unit)}{suffix}"
    return f"{int(nanos)}n"  # pragma: no cover - the nano unit divides every integer
