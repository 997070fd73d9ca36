"""Prometheus' text exposition format, hand-written (no client library needed): the
counter, histogram and label rendering the api-server's and the DNS server's /metrics
share."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from decimal import Decimal

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """Cumulative-bucket histogram per label tuple."""

    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...],
                 buckets: tuple[float, ...] = BUCKETS) -> None:
        self.name = name
        self.help = help_text
        self.label_names = label_names
        self.buckets = buckets
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = [0.0] * (len(self.buckets) + 2)  # buckets, +Inf, sum
        s[bisect.bisect_left(self.buckets, seconds)] += 1
        s[-1] += seconds

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, s in sorted(self.series.items()):
            base = labels(self.label_names, key)
            cumulative = 0.0
            for bound, count in zip(self.buckets, s):
                cumulative += count
                lines.append(f'{self.name}_bucket{{{base},le="{bound}"}} {cumulative:g}')
            cumulative += s[len(self.buckets)]
            lines.append(f'{self.name}_bucket{{{base},le="+Inf"}} {cumulative:g}')
            lines.append(f"{self.name}_sum{{{base}}} {s[-1]:.6f}")
            lines.append(f"{self.name}_count{{{base}}} {cumulative:g}")
        return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


def counter(name: str, help_text: str, label_names: tuple[str, ...],
            values: Iterable[tuple[tuple[str, ...], int]]) -> list[str]:
    """A counter family, one series per label tuple."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    lines += [f"{name}{{{labels(label_names, key)}}} {count}"
              for key, count in sorted(values)]
    return lines



def go_float(value: float) -> str:
    """A sample value as Prometheus' Go client writes it (strconv.FormatFloat 'g', -1):
    the shortest digits that round-trip, in exponent form when the exponent is below -4
    or at least 6 (1e+06, 1.2288e+07), so our output reads like kube components'."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    shortest = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, shortest.digits))
    exponent = len(digits) - 1 + int(shortest.exponent)
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, frac = digits[:exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1:]
    return sign + whole + ("." + frac if frac else "")
