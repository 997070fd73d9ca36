"""Lease-based leader election, as client-go's leaderelection package does it.

One coordination.k8s.io/v1 Lease names the holder. A candidate takes the
lease when it is free or when the holder has not renewed it for
`lease_duration`, measured on *our* clock from when we last saw the record
change (so clock skew between hosts does not matter); a candidate polls every
`retry_period`, but no later than the moment the lease it saw runs out, so a dead
holder's lease is taken when it expires, not up to a retry period after. With `watch`
a candidate also follows the Lease by watch: a renewal counts from when it happened,
not from the next poll (which may see it up to a retry period late and so wait that
much longer once the holder is gone), and a released lease is taken at once (the
floating API address, agent/vip.py). The leader renews every
`retry_period`; if it cannot renew within `renew_deadline` it stops leading:
the work is cancelled before another candidate can take over
(renew_deadline < lease_duration). Every write is a PUT on the Lease's
resourceVersion, so two candidates can never both win a round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from minikube_py.api.meta import micro_time
from minikube_py.api.resources import LEASES
from minikube_py.api.types import LeaseSpec, Object
from minikube_py.client.errors import AlreadyExists, ClientError, NotFound
from minikube_py.client.rest import ApiClient

log = logging.getLogger(__name__)

JITTER = 1.2


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def check_timing(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """A leader must give up (renew_deadline) before others may take over (lease_duration),
    and get more than one jittered retry in before giving up; else two could lead at once."""
    if not lease_duration > renew_deadline > retry_period * JITTER:
        raise ValueError("need lease_duration > renew_deadline > retry_period * 1.2")


@dataclass(frozen=True)
class LeaderElectionSettings:
    """How a component campaigns for its Lease; the defaults are kube-scheduler's and
    kube-controller-manager's (--leader-elect-* flags). A component whose settings hold
    None instead runs without election (tests, single instances)."""

    # The Lease kube-system/<lease_name>: one per component, `status` reads it.
    lease_name: str
    lease_namespace: str = "kube-system"
    # None: "<hostname>_<uuid4>", unique per process.
    identity: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        check_timing(self.lease_duration, self.renew_deadline, self.retry_period)


async def run_elected(client: ApiClient, settings: LeaderElectionSettings | None,
                      fn: Callable[[], Awaitable[Any]]) -> None:
    """Run `fn` while holding the settings' Lease (see LeaderElector.run), or at once
    when election is off (settings None)."""
    if settings is None:
        await fn()
        return
    elector = LeaderElector(
        client, name=settings.lease_name, namespace=settings.lease_namespace,
        identity=settings.identity, lease_duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline, retry_period=settings.retry_period)
    await elector.run(fn)


class LeaderElector:
    """Campaign for one Lease and run a coroutine only while holding it."""

    def __init__(self, client: ApiClient, *, name: str, namespace: str = "kube-system",
                 identity: str | None = None, lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0,
                 release_on_cancel: bool = True, watch: bool = False) -> None:
        check_timing(lease_duration, renew_deadline, retry_period)
        self.client = client
        self.name, self.namespace = name, namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.watch = watch
        self._released = asyncio.Event()  # the watch saw the lease handed back
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._expires_at = 0.0  # when the lease last seen runs out, on our clock
        self._leading = False

    @property
    def is_leader(self) -> bool:
        return self._leading

    def __repr__(self) -> str:
        return f"LeaderElector({self.namespace}/{self.name}, identity={self.identity!r})"

    async def run(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Forever: acquire, run `fn` while renewing, cancel it when leadership is lost.

        Returns when `fn` returns (releasing the lease); re-raises if `fn` fails.
        """
        while True:
            await self._acquire_or_hand_back()
            work = asyncio.ensure_future(fn())
            renew = asyncio.create_task(self._renew_loop(), name=f"lease-renew-{self.name}")
            try:
                await asyncio.wait([work, renew], return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not work.done() or not renew.done():
                    work.cancel()
                    renew.cancel()
                    await asyncio.gather(work, renew, return_exceptions=True)
                self._leading = False
                if renew.done() and not renew.cancelled() and renew.exception() is not None:
                    log.error("lease renewal crashed lease=%s/%s error=%r", self.namespace,
                              self.name, renew.exception())
                if work.done() and self.release_on_cancel:
                    await self.release()
            if not work.cancelled():
                work.result()  # fn ended by itself: its error propagates, else we are done
                return
            log.warning("leadership lost, work cancelled lease=%s/%s identity=%s",
                        self.namespace, self.name, self.identity)

    async def _acquire_or_hand_back(self) -> None:
        """Acquire; stopped meanwhile, hand the lease back all the same: the write that took
        it may have landed with its answer still unread (a loaded host), and a standby would
        otherwise wait the lease out. release() only clears a lease naming us."""
        try:
            await self._acquire()
        except asyncio.CancelledError:
            if self.release_on_cancel:
                await self.release()
            raise

    async def _acquire(self) -> None:
        observer = asyncio.create_task(self._observe(), name=f"lease-watch-{self.name}") \
            if self.watch else None
        try:
            while not await self._try_acquire_or_renew():
                self._released.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), self._next_try())
        finally:
            if observer is not None:
                observer.cancel()
                await asyncio.gather(observer, return_exceptions=True)
        self._leading = True
        log.info("became leader lease=%s/%s identity=%s", self.namespace, self.name,
                 self.identity)

    async def _observe(self) -> None:
        """Note every change of the Lease as the watch delivers it; wake the campaign when
        the holder hands it back. A broken watch is started again a retry period later
        (meanwhile the polls go on)."""
        while True:
            events = self.client.watch(LEASES, self.namespace, timeout_seconds=300,
                                       field_selector=f"metadata.name={self.name}")
            try:
                async with contextlib.aclosing(events):  # its connection freed when cancelled
                    async for kind, lease in events:
                        spec: LeaseSpec = lease.get("spec") or {}
                        if kind != "DELETED" and self._note(spec) and \
                                not spec.get("holderIdentity"):
                            self._released.set()
            except (ClientError, OSError, TimeoutError) as e:
                log.debug("lease watch broke lease=%s/%s error=%r", self.namespace, self.name,
                          e)
            await asyncio.sleep(self.retry_period)

    def _note(self, spec: LeaseSpec) -> bool:
        """Remember the holder record if it changed: the lease runs for its duration from
        now, on our clock. True if it changed."""
        record = (spec.get("holderIdentity") or "", str(spec.get("renewTime") or ""))
        if record == self._observed:
            return False
        self._observed, self._observed_at = record, time.monotonic()
        self._expires_at = self._observed_at + float(spec.get("leaseDurationSeconds")
                                                     or self.lease_duration)
        return True

    def _next_try(self) -> float:
        """A jittered retry period, or less when the lease seen runs out sooner (a lease
        already expired and still lost is retried at the usual pace)."""
        wait = self.retry_period * random.uniform(1.0, JITTER)
        left = self._expires_at - time.monotonic()
        return left + 0.01 if 0 < left < wait else wait

    async def _renew_loop(self) -> None:
        """Renew every retry_period; return (= lost) when no renewal lands in renew_deadline."""
        while True:
            await asyncio.sleep(self.retry_period)
            deadline = time.monotonic() + self.renew_deadline
            while True:
                try:
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        renewed = await self._try_acquire_or_renew()
                except TimeoutError:
                    renewed = False
                if renewed:
                    break
                if time.monotonic() + self.retry_period >= deadline:
                    return
                await asyncio.sleep(self.retry_period)

    async def _try_acquire_or_renew(self) -> bool:
        """One round: create the Lease, renew ours, or take an expired one. True if ours."""
        now = micro_time()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except NotFound:
            return await self._create(now)
        except ClientError as e:
            log.warning("cannot read lease lease=%s/%s error=%r", self.namespace, self.name, e)
            return False
        spec: LeaseSpec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        self._note(spec)
        expired = self._expires_at <= time.monotonic()
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update({"holderIdentity": self.identity, "renewTime": now,
                     "leaseDurationSeconds": int(self.lease_duration)})
        try:
            updated = await self.client.update(LEASES, lease)
        except ClientError as e:
            log.info("lease update lost lease=%s/%s error=%r", self.namespace, self.name, e)
            return False
        self._see(updated)
        return True

    async def _create(self, now: str) -> bool:
        spec: LeaseSpec = {"holderIdentity": self.identity, "acquireTime": now, "renewTime": now,
                           "leaseDurationSeconds": int(self.lease_duration),
                           "leaseTransitions": 0}
        lease = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec,
        }
        try:
            self._see(await self.client.create(LEASES, lease, self.namespace))
        except AlreadyExists:
            return False
        except ClientError as e:
            log.warning("cannot create lease lease=%s/%s error=%r", self.namespace, self.name, e)
            return False
        return True

    def _see(self, lease: Object) -> None:
        self._note(lease.get("spec") or {})

    async def release(self) -> bool:
        """Hand the lease back if we hold it (holder ""), so the next candidate need not
        wait it out; False if the api-server could not be asked."""
        try:
            async with asyncio.timeout(self.renew_deadline):
                await self._clear_holder()
        except (ClientError, TimeoutError):
            return False
        return True

    async def _clear_holder(self) -> None:
        lease = await self.client.get(LEASES, self.name, self.namespace)
        spec: LeaseSpec = lease.setdefault("spec", {})
        if spec.get("holderIdentity") != self.identity:
            return
        now = micro_time()
        spec.update({"holderIdentity": "", "renewTime": now, "acquireTime": now,
                     "leaseDurationSeconds": 1})
        await self.client.update(LEASES, lease)
        log.info("released lease lease=%s/%s identity=%s", self.namespace, self.name,
                 self.identity)
