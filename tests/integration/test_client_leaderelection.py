"""Leader election on a real Lease: one leader at a time, fast failover on release,
takeover after expiry when the leader dies silently, and giving up on lost renewal."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from minikube_py.api.resources import LEASES
from minikube_py.client import ApiClient, LeaderElector
from minikube_py.client.tasks import background
from tests.helpers import eventually

TIMING: dict[str, Any] = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.4}


class Timeline:
    """When each candidate started and stopped leading; detects overlap."""

    def __init__(self) -> None:
        self.leading: set[str] = set()
        self.overlaps = 0
        self.started: list[str] = []
        self.stopped: list[str] = []

    def work(self, who: str) -> Callable[[], Awaitable[None]]:
        async def lead() -> None:
            if self.leading:
                self.overlaps += 1
            self.leading.add(who)
            self.started.append(who)
            try:
                await asyncio.sleep(3600)
            finally:
                self.leading.discard(who)
                self.stopped.append(who)
        return lead


@pytest.fixture
async def client(apiserver: Any) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as c:
        yield c


def campaigning(elector: LeaderElector, fn: Callable[[], Awaitable[None]]
                ) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return background(elector.run(fn), f"elector-{elector.identity}")


def electors(client: ApiClient, lease: str, **overrides: Any) -> tuple[LeaderElector, ...]:
    return tuple(LeaderElector(client, name=lease, identity=who, **{**TIMING, **overrides})
                 for who in ("a", "b"))


async def test_one_leader_and_fast_failover_on_release(client: ApiClient) -> None:
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    a, b = electors(client, lease_name)
    timeline = Timeline()
    async with campaigning(a, timeline.work("a")) as task_a, \
            campaigning(b, timeline.work("b")) as task_b:
        await eventually(lambda: len(timeline.leading) == 1)
        await asyncio.sleep(2 * TIMING["lease_duration"])  # many renew rounds, no flapping
        assert len(timeline.started) == 1
        first = timeline.started[0]
        second = "b" if first == "a" else "a"
        leader, follower = (a, b) if first == "a" else (b, a)
        assert leader.is_leader and not follower.is_leader

        lease = await client.get(LEASES, lease_name, "kube-system")
        assert lease["spec"]["holderIdentity"] == first
        assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]

        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        leader_task = task_a if first == "a" else task_b
        leader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leader_task
        assert timeline.stopped == [first]
        await eventually(lambda: timeline.started == [first, second])
        assert loop.time() - stopped_at < TIMING["lease_duration"], \
            "a released lease is taken without waiting for it to expire"
        lease = await client.get(LEASES, lease_name, "kube-system")
        assert lease["spec"]["holderIdentity"] == second
        assert lease["spec"]["leaseTransitions"] >= 1
    assert timeline.overlaps == 0


async def test_takeover_after_silent_death_waits_for_expiry(client: ApiClient) -> None:
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    a = LeaderElector(client, name=lease_name, identity="a", release_on_cancel=False, **TIMING)
    b = LeaderElector(client, name=lease_name, identity="b", **TIMING)
    timeline = Timeline()
    async with campaigning(a, timeline.work("a")) as task_a:
        await eventually(lambda: timeline.started == ["a"])
        async with campaigning(b, timeline.work("b")):
            await asyncio.sleep(1)
            assert timeline.started == ["a"]
            loop = asyncio.get_running_loop()
            task_a.cancel()  # "crash": no release
            with contextlib.suppress(asyncio.CancelledError):
                await task_a
            died_at = loop.time()
            await eventually(lambda: timeline.started == ["a", "b"], timeout=15)
            waited = loop.time() - died_at
            assert waited >= TIMING["lease_duration"] - 1.0, "an unexpired lease was stolen"
    assert timeline.overlaps == 0


async def test_a_candidate_takes_an_expiring_lease_when_it_runs_out_not_at_its_next_poll(
        client: ApiClient) -> None:
    """A holder gone silent with 1 s left on its Lease: a candidate polling every 5 s tries
    again when the lease it saw runs out, not 5-6 s later."""
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    await client.create(LEASES, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": lease_name, "namespace": "kube-system"},
        "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1,
                 "renewTime": "2026-01-01T00:00:00.000000Z"}}, "kube-system")
    b = LeaderElector(client, name=lease_name, identity="b", lease_duration=20,
                      renew_deadline=15, retry_period=5)
    timeline = Timeline()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with campaigning(b, timeline.work("b")):
        await eventually(lambda: timeline.started == ["b"], timeout=10)
        waited = loop.time() - started
    assert 1.0 <= waited < 3.0, waited


@pytest.mark.parametrize("released", [pytest.param(True, id="handed back"),
                                      pytest.param(False, id="holder gone silent")])
async def test_a_watching_candidate_sees_the_lease_change_when_it_happens(
        client: ApiClient, released: bool) -> None:
    """Candidate b polls only every 5 s but watches: a handed-back lease is taken at once,
    and a silent holder's lease when it expires counted from its last renewal (a poll
    would have seen that renewal up to 6 s late and waited as much longer)."""
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    a = LeaderElector(client, name=lease_name, identity="a", release_on_cancel=released,
                      **TIMING)
    b = LeaderElector(client, name=lease_name, identity="b", lease_duration=20,
                      renew_deadline=15, retry_period=5, watch=True)
    timeline = Timeline()
    loop = asyncio.get_running_loop()
    async with campaigning(a, timeline.work("a")) as task_a:
        await eventually(lambda: timeline.started == ["a"])
        async with campaigning(b, timeline.work("b")):
            await asyncio.sleep(1.0)  # b polled once and watches
            task_a.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task_a
            stopped_at = loop.time()
            await eventually(lambda: timeline.started == ["a", "b"], timeout=15)
            waited = loop.time() - stopped_at
    # a renewed every 0.4 s: its last renewal is at most that old when it stops
    low, high = (0.0, 1.2) if released else (TIMING["lease_duration"] - 0.5,
                                             TIMING["lease_duration"] + 0.8)
    assert low <= waited < high, waited
    assert timeline.overlaps == 0


async def test_leader_stops_work_when_lease_is_taken(client: ApiClient) -> None:
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    a = LeaderElector(client, name=lease_name, identity="a", **TIMING)
    timeline = Timeline()
    async with campaigning(a, timeline.work("a")):
        await eventually(lambda: timeline.started == ["a"])
        lease = await client.get(LEASES, lease_name, "kube-system")
        lease["spec"]["holderIdentity"] = "intruder"
        lease["spec"]["leaseDurationSeconds"] = 3600
        await client.update(LEASES, lease)
        loop = asyncio.get_running_loop()
        taken_at = loop.time()
        await eventually(lambda: timeline.stopped == ["a"])
        assert loop.time() - taken_at <= TIMING["renew_deadline"] + 2 * TIMING["retry_period"] + 1
        assert not a.is_leader


async def test_run_returns_when_work_finishes_and_releases(client: ApiClient) -> None:
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(client, name=lease_name, identity="once", **TIMING)
    ran = []

    async def short() -> None:
        ran.append(elector.is_leader)

    await asyncio.wait_for(elector.run(short), 10)
    assert ran == [True]
    lease = await client.get(LEASES, lease_name, "kube-system")
    assert lease["spec"]["holderIdentity"] == ""


class LateAnswers:
    """The api-server takes a Lease write, but its answer is not read (a loaded host)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.landed = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def create(self, *args: Any, **kwargs: Any) -> Any:
        created = await self.client.create(*args, **kwargs)
        self.landed.set()
        await asyncio.sleep(3600)
        return created


async def test_stopped_before_its_taking_write_is_answered_hands_the_lease_back(
        client: ApiClient) -> None:
    """The scheduler-leader flake: SIGTERM while the write that took the Lease was landing;
    the candidate never learnt it led, so it never released, and the Lease named a stopped
    process for its whole duration."""
    lease_name = f"test-{uuid.uuid4().hex[:8]}"
    late = LateAnswers(client)
    elector = LeaderElector(cast(ApiClient, late), name=lease_name, identity="late", **TIMING)

    async def never() -> None:
        raise AssertionError("it never learns it leads")

    task = asyncio.create_task(elector.run(never))
    await asyncio.wait_for(late.landed.wait(), 10)
    assert (await client.get(LEASES, lease_name, "kube-system"))["spec"]["holderIdentity"] \
        == "late"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    lease = await client.get(LEASES, lease_name, "kube-system")
    assert lease["spec"]["holderIdentity"] == ""


async def test_work_failure_propagates(client: ApiClient) -> None:
    elector = LeaderElector(client, name=f"test-{uuid.uuid4().hex[:8]}", **TIMING)

    async def broken() -> None:
        raise RuntimeError("controller crashed")

    with pytest.raises(RuntimeError, match="controller crashed"):
        await asyncio.wait_for(elector.run(broken), 10)
