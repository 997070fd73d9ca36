"""The scheduling queue's ordering and retry rules, and the cache's assume/confirm."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from minikube_py.scheduler.cache import SchedulerCache
from minikube_py.scheduler.podinfo import PodInfo
from minikube_py.scheduler.queue import SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def info(name: str, priority: int = 0, created: str = "2026-01-01T00:00:00Z",
         cpu: int = 0) -> PodInfo:
    return PodInfo(key=f"ns/{name}", uid=name, priority=priority, created=created, cpu=cpu)


async def pop_now(q: SchedulingQueue) -> str | None:
    try:
        return (await asyncio.wait_for(q.pop(), 0.05)).key
    except TimeoutError:
        return None


async def test_priority_then_age() -> None:
    q = SchedulingQueue()
    q.add(info("young", created="2026-01-01T00:00:05Z"))
    q.add(info("old", created="2026-01-01T00:00:01Z"))
    q.add(info("urgent", priority=1000, created="2026-01-01T00:00:09Z"))
    assert [await pop_now(q) for _ in range(4)] == ["ns/urgent", "ns/old", "ns/young", None]


async def test_unschedulable_waits_for_a_cluster_change_then_backs_off() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("p"))
    await pop_now(q)
    q.failed("ns/p", unschedulable=True)
    clock.now += 30
    q.flush()
    assert await pop_now(q) is None  # parked: nothing changed
    q.move_all_to_backoff()
    q.flush()
    assert await pop_now(q) is None  # backoff of 1 s not over
    clock.now += 1
    q.flush()
    assert await pop_now(q) == "ns/p"


async def test_unschedulable_retried_after_timeout() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock, unschedulable_timeout=60)
    q.add(info("p"))
    await pop_now(q)
    q.failed("ns/p", unschedulable=True)
    clock.now += 59
    q.flush()
    assert await pop_now(q) is None
    clock.now += 1
    q.flush()
    assert await pop_now(q) == "ns/p"


async def test_move_during_attempt_is_not_lost() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("p"))
    await pop_now(q)
    q.move_all_to_backoff()  # a node appeared while we were deciding
    q.failed("ns/p", unschedulable=True)
    clock.now += 1
    q.flush()
    assert await pop_now(q) == "ns/p"


async def test_update_in_flight_is_not_scheduled_twice() -> None:
    q = SchedulingQueue()
    q.add(info("p"))
    await pop_now(q)
    q.add(info("p", priority=5))
    assert await pop_now(q) is None
    q.failed("ns/p", unschedulable=False)  # the update is retried at once
    popped = await asyncio.wait_for(q.pop(), 0.05)
    assert popped.priority == 5
    q.done("ns/p")
    assert len(q) == 0


async def test_deleted_pod_never_pops() -> None:
    q = SchedulingQueue()
    q.add(info("p"))
    q.delete("ns/p")
    assert await pop_now(q) is None


@pytest.mark.parametrize("attempts, delay", [(1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0)])
async def test_backoff_grows_to_a_cap(attempts: int, delay: float) -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(info("p"))
    for _ in range(attempts - 1):
        await pop_now(q)
        q.failed("ns/p", unschedulable=False)
        clock.now += 100
        q.flush()
    await pop_now(q)
    q.failed("ns/p", unschedulable=False)
    clock.now += delay - 0.01
    q.flush()
    assert await pop_now(q) is None
    clock.now += 0.01
    q.flush()
    assert await pop_now(q) == "ns/p"


def _node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": "2", "memory": "1Gi"}}}


def test_cache_assume_confirm_forget() -> None:
    cache = SchedulerCache()
    cache.set_node(_node("a"))
    cache.assume(info("p", cpu=500), "a")
    node = cache.node("a")
    assert node is not None and node.cpu == 500 and cache.is_assumed("ns/p")
    assert not cache.confirm("ns/p", "elsewhere")  # bound elsewhere: not ours to keep
    assert cache.confirm("ns/p", "a")  # confirmed by the informer
    assert node.cpu == 500 and not cache.is_assumed("ns/p")
    cache.forget("ns/p")  # no longer assumed: forgetting changes nothing
    assert node.cpu == 500
    cache.assume(info("q", cpu=100), "a")
    cache.forget("ns/q")
    assert node.cpu == 500
    cache.remove_pod("ns/p")
    assert node.cpu == 0


def test_cache_pods_seen_before_their_node_count() -> None:
    cache = SchedulerCache()
    cache.set_bound_pod(info("p", cpu=700), "late")
    assert cache.nodes() == []
    cache.set_node(_node("late"))
    [node] = cache.nodes()
    assert node.cpu == 700
    cache.set_bound_pod(info("p", cpu=700), "other")  # moved (rebound elsewhere)
    assert node.cpu == 0
    cache.remove_node("late")
    assert cache.nodes() == []
