"""Quantities parse exactly and print canonically, as apimachinery's resource.Quantity."""

from decimal import Decimal

import pytest

from minikube_py.api.quantity import cpu_millis, format_quantity, parse_quantity, to_bytes


@pytest.mark.parametrize(("text", "value"), [
    pytest.param("100m", Decimal("0.1"), id="millis"),
    pytest.param("0.5", Decimal("0.5"), id="fraction"),
    pytest.param(".5", Decimal("0.5"), id="leading-dot"),
    pytest.param("5.", Decimal(5), id="trailing-dot"),
    pytest.param("64Mi", Decimal(64 * 1024 ** 2), id="binary-mi"),
    pytest.param("1Ki", Decimal(1024), id="binary-ki"),
    pytest.param("2Ei", Decimal(2 * 1024 ** 6), id="binary-ei"),
    pytest.param("1G", Decimal(10 ** 9), id="decimal-g"),
    pytest.param("1k", Decimal(1000), id="decimal-k"),
    pytest.param("3n", Decimal("3e-9"), id="nano"),
    pytest.param("7u", Decimal("7e-6"), id="micro"),
    pytest.param("1e3", Decimal(1000), id="exponent"),
    pytest.param("1E3", Decimal(1000), id="exponent-upper"),
    pytest.param("2e-3", Decimal("0.002"), id="negative-exponent"),
    pytest.param("-1", Decimal(-1), id="negative"),
    pytest.param("+4", Decimal(4), id="plus-sign"),
    pytest.param(3, Decimal(3), id="json-int"),
    pytest.param(0.25, Decimal("0.25"), id="json-float"),
])
def test_parse(text: object, value: Decimal) -> None:
    assert parse_quantity(text) == value  # type: ignore[arg-type]  # JSON numbers too


@pytest.mark.parametrize("text", ["12XB", "", "1.2.3", "e3", "1 ", " 1", "Mi", "1ki", "1e",
                                  "1MiB", "abc", "1e99", "--1", "0x10", "1.5.Gi", True, None,
                                  float("nan"), [1]])
def test_invalid(text: object) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        parse_quantity(text)  # type: ignore[arg-type]  # any JSON value, on purpose


@pytest.mark.parametrize(("text", "millis"), [
    ("100m", 100), ("0.5", 500), ("2", 2000), ("1n", 1), ("1.0001", 1001), ("250m", 250)])
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(("text", "size"), [
    ("64Mi", 67108864), ("1G", 10 ** 9), ("1.5Ki", 1536), ("0.5", 1), ("128974848", 128974848)])
def test_to_bytes(text: str, size: int) -> None:
    assert to_bytes(text) == size


@pytest.mark.parametrize(("value", "binary", "text"), [
    (Decimal("0.1"), False, "100m"),
    (Decimal("1.5"), False, "1500m"),
    (Decimal(1500000), False, "1500k"),
    (Decimal(10 ** 9), False, "1G"),
    (Decimal(64 * 1024 ** 2), True, "64Mi"),
    (Decimal(1536), True, "1536"),
    (Decimal(0), True, "0"),
    (Decimal("1e-10"), False, "1n"),
    (Decimal(1000), True, "1000"),
])
def test_format(value: Decimal, binary: bool, text: str) -> None:
    assert format_quantity(value, binary=binary) == text


@pytest.mark.parametrize("text", ["100m", "64Mi", "1G", "0.5", "3n"])
def test_format_round_trips(text: str) -> None:
    binary = text.endswith("i")
    assert parse_quantity(format_quantity(parse_quantity(text), binary=binary)) == \
        parse_quantity(text)
