"""The one back-off: doubling from `initial`, capped, jittered within bounds, resettable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minikube_py.api.backoff import Backoff, Exponential


@pytest.mark.parametrize(("policy", "attempt", "expected"), [
    pytest.param(Exponential(0.5, 10.0), 0, 0.5, id="first-retry-waits-initial"),
    pytest.param(Exponential(0.5, 10.0), 3, 4.0, id="doubles"),
    pytest.param(Exponential(0.5, 10.0), 5, 10.0, id="capped"),
    pytest.param(Exponential(0.5, 10.0), -1, 0.5, id="negative-is-first"),
    pytest.param(Exponential(0.005, 1000.0), 5000, 1000.0, id="huge-attempt-no-overflow"),
    pytest.param(Exponential(1.0, 100.0, factor=3.0), 2, 9.0, id="other-factor"),
    pytest.param(Exponential(0.0, 1.0), 7, 0.0, id="zero-stays-zero"),
])
def test_delay(policy: Exponential, attempt: int, expected: float) -> None:
    assert policy.delay(attempt) == expected


def test_jitter_stays_within_its_fraction_and_varies() -> None:
    policy = Exponential(1.0, 8.0, jitter=0.2)
    waits = [policy.delay(10) for _ in range(200)]
    assert all(8.0 * 0.8 <= w <= 8.0 * 1.2 for w in waits)
    assert len(set(waits)) > 1, "clients retrying together must not stay in lockstep"


@pytest.mark.parametrize("args", [
    pytest.param((2.0, 1.0), id="initial-above-cap"),
    pytest.param((-1.0, 1.0), id="negative-initial"),
    pytest.param((1.0, 2.0, 0.5), id="shrinking-factor"),
    pytest.param((1.0, 2.0, 2.0, 1.0), id="jitter-of-100-percent"),
])
def test_invalid_policies_are_refused(args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="invalid back-off"):
        Exponential(*args)


def test_backoff_counts_failures_until_reset() -> None:
    backoff = Backoff(0.1, 0.4)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.4, 0.4]
    backoff.reset()
    assert backoff.next() == 0.1


async def test_sleep_waits_the_next_delay() -> None:
    backoff = Backoff(0.001, 0.002)
    assert [await backoff.sleep() for _ in range(3)] == [0.001, 0.002, 0.002]
    assert backoff.failures == 3


HAND_WRITTEN = re.compile(r"min\([^()]*\*\s*2\b")  # delay = min(delay * 2, cap) and kin
ROOT = Path(__file__).resolve().parents[2]


def test_no_component_doubles_its_own_delays() -> None:
    copies = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
              for package in ("minikube_py", "agent", "cni_plugins")
              for path in sorted((ROOT / package).rglob("*.py"))
              for n, line in enumerate(path.read_text().splitlines(), 1)
              if HAND_WRITTEN.search(line)]
    assert not copies, "use minikube_py.api.backoff:\n" + "\n".join(copies)
