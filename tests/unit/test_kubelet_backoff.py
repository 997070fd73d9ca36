"""Crash-loop back-off arithmetic with a fake clock."""

from __future__ import annotations

from agent.kubelet.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_restart_is_immediate_then_doubles_to_the_cap() -> None:
    clock = Clock()
    b = Backoff(10, 300, clock=clock)
    assert b.remaining("k") == 0
    delays = []
    for _ in range(8):
        b.next("k")
        delays.append(b.delay("k"))
        assert b.remaining("k", event_time=clock.now + 1) == b.delay("k")
        clock.now += b.delay("k")
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_a_death_after_the_window_is_not_in_backoff() -> None:
    clock = Clock()
    b = Backoff(10, 300, clock=clock)
    b.next("k")
    clock.now += 15
    assert b.remaining("k", event_time=clock.now) == 0


def test_reset_after_ten_minutes_of_running() -> None:
    clock = Clock()
    b = Backoff(10, 300, clock=clock)
    for _ in range(4):
        b.next("k")
    clock.now += 600
    b.next("k")
    assert b.delay("k") == 10


def test_forget_prefix_drops_only_that_pod() -> None:
    b = Backoff(10, 300, clock=Clock())
    b.next("uid1/a")
    b.next("uid2/a")
    b.forget_prefix("uid1/")
    assert (b.delay("uid1/a"), b.delay("uid2/a")) == (0, 10)
