"""WorkQueue and rate limiters: client-go's queue semantics, checked one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from minikube_py.client.ratelimit import ExponentialBackoff, MaxOf, TokenBucket
from minikube_py.client.workqueue import ShutDown, WorkQueue


def fast_queue(name: str = "test") -> WorkQueue:
    """No overall bucket, 1 ms base: retries happen within a test's patience."""
    return WorkQueue(name, rate_limiter=ExponentialBackoff(0.001, 0.05))


async def test_duplicate_adds_are_queued_once() -> None:
    q = fast_queue()
    for key in ("a", "b", "a", "a", "c", "b"):
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_added_while_processing_is_requeued_after_done() -> None:
    q = fast_queue()
    q.add("a")
    key = await q.get()
    q.add("a")
    assert len(q) == 0, "a key being processed must not be handed to a second worker"
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_key_is_never_processed_concurrently() -> None:
    q = fast_queue()
    active: set[Hashable] = set()
    overlaps: list[Hashable] = []
    calls: list[Hashable] = []

    async def sync(key: Hashable) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        calls.append(key)
        await asyncio.sleep(0.01)
        q.add(key)  # re-added while processing, like an update event arriving mid-sync
        active.discard(key)
        if len(calls) >= 6:
            q.shutdown()

    q.add("same")
    await asyncio.wait_for(q.run_workers(sync, workers=4), 5)
    assert overlaps == []
    assert calls[:6] == ["same"] * 6


async def test_add_after_delays_and_earliest_time_wins() -> None:
    q = fast_queue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("k", 10)
    q.add_after("k", 0.05)  # earlier: replaces
    q.add_after("k", 5)  # later: ignored
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 2) == "k"
    assert 0.04 <= loop.time() - start < 1
    q.done("k")
    await asyncio.sleep(0.1)
    assert len(q) == 0, "the replaced timers must not fire"


async def test_get_waits_and_shutdown_wakes_getters() -> None:
    q = fast_queue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"
    blocked = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(blocked, 1)
    q.add("late")
    assert len(q) == 0, "adds after shutdown are ignored"


async def test_shutdown_drains_queued_keys_first() -> None:
    q = fast_queue()
    q.add("a")
    q.add("b")
    q.shutdown()
    assert [await q.get(), await q.get()] == ["a", "b"]
    with pytest.raises(ShutDown):
        await q.get()


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    q = fast_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.add("k")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "k"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_run_workers_retries_failures_then_forgets() -> None:
    q = fast_queue()
    attempts: list[int] = []

    async def flaky(key: Hashable) -> None:
        attempts.append(q.num_requeues(key))
        if len(attempts) < 4:
            raise RuntimeError("not yet")
        q.shutdown()

    q.add("k")
    await asyncio.wait_for(q.run_workers(flaky, workers=2), 5)
    assert attempts == [0, 1, 2, 3], "each failure is one more rate-limited requeue"
    assert q.num_requeues("k") == 0, "success forgets the key's failures"


async def test_run_workers_drops_key_after_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    q = fast_queue()
    calls = 0

    async def always_fails(key: Hashable) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("broken object")

    q.add("bad")
    workers = asyncio.create_task(q.run_workers(always_fails, workers=1, max_retries=3))
    await asyncio.sleep(0.3)
    assert calls == 4, "first try plus three retries"
    assert "dropping key" in caplog.text
    q.shutdown()
    await asyncio.wait_for(workers, 1)


async def test_cancelling_run_workers_stops_workers() -> None:
    q = fast_queue()
    started = asyncio.Event()

    async def slow(key: Hashable) -> None:
        started.set()
        await asyncio.sleep(60)

    q.add("k")
    workers = asyncio.create_task(q.run_workers(slow, workers=3))
    await asyncio.wait_for(started.wait(), 1)
    workers.cancel()
    with pytest.raises(asyncio.CancelledError):
        await workers
    q.add("k")
    assert len(q) == 1, "the cancelled key was marked done, so it can be queued again"


@pytest.mark.parametrize(("failures", "expected"), [
    pytest.param(0, 0.005, id="first-failure-waits-base"),
    pytest.param(1, 0.010, id="doubles"),
    pytest.param(10, 0.005 * 1024, id="tenth-doubling"),
    pytest.param(40, 1000.0, id="capped-at-1000s"),
    pytest.param(200, 1000.0, id="no-overflow-far-past-cap"),
])
def test_exponential_backoff(failures: int, expected: float) -> None:
    limiter = ExponentialBackoff(0.005, 1000.0)
    for _ in range(failures):
        limiter.when("k")
    assert limiter.when("k") == pytest.approx(expected)
    assert limiter.num_requeues("k") == failures + 1
    assert limiter.when("other") == pytest.approx(0.005), "keys back off independently"
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0


def test_token_bucket_allows_burst_then_paces() -> None:
    now = [100.0]
    bucket = TokenBucket(qps=10, burst=3, clock=lambda: now[0])
    assert [bucket.when(i) for i in range(3)] == [0, 0, 0]
    assert bucket.when(3) == pytest.approx(0.1)
    assert bucket.when(4) == pytest.approx(0.2), "reservations queue behind each other"
    now[0] += 1.0  # refills 10 tokens, capped at the burst
    assert [bucket.when(i) for i in range(3)] == [0, 0, 0]


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(qps=0, burst=1)


def test_max_of_takes_longest_wait() -> None:
    now = [0.0]
    limiter = MaxOf(ExponentialBackoff(0.005, 1000), TokenBucket(qps=1, burst=1,
                                                                 clock=lambda: now[0]))
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("b") == pytest.approx(1.0), "bucket empty: its wait dominates"
    assert limiter.num_requeues("a") == 1


async def test_a_failing_give_up_handler_is_logged_and_the_worker_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    q = fast_queue()
    done: list[Hashable] = []

    async def sync(key: Hashable) -> None:
        if key == "bad":
            raise ValueError("broken object")
        done.append(key)
        q.shutdown()

    async def on_give_up(key: Hashable, error: Exception) -> None:
        raise RuntimeError("event sink down")

    q.add("bad")
    workers = asyncio.create_task(q.run_workers(sync, workers=1, max_retries=1,
                                                on_give_up=on_give_up))
    await asyncio.sleep(0.1)
    q.add("good")
    await asyncio.wait_for(workers, 1)
    assert done == ["good"], "the worker survived its give-up handler's failure"
    assert "give-up handler failed queue=test key=bad" in caplog.text
