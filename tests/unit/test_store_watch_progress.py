"""A Broadcaster passes etcd's progress on only once etcd confirms nothing under its prefix
changed since its last event: etcd 3.4.23 answers some progress requests ahead of events
still queued on the stream (etcd-io/etcd#15220). Storage faked here; quiet_between's real
answers are tests/integration/test_store_storage.py."""

from __future__ import annotations

from typing import cast

from minikube_py.store import Change, Progress, Storage
from minikube_py.store.watch import Broadcaster

PREFIX = "/registry/pods/"


class Etcd:
    """quiet_between as etcd answers when the prefix last changed at `changed_at`."""

    def __init__(self, changed_at: int) -> None:
        self.changed_at = changed_at
        self.asked: list[tuple[int, int]] = []

    async def quiet_between(self, prefix: str, since: int, until: int) -> bool:
        self.asked.append((since, until))
        return prefix == PREFIX and not since < self.changed_at <= until


def put(revision: int) -> Change:
    return Change("PUT", f"{PREFIX}ns/p{revision}", b"{}", None, revision, True)


def broadcaster(etcd: Etcd, last: int) -> Broadcaster:
    b = Broadcaster(cast(Storage, etcd), PREFIX)
    b.last_revision = b.floor = last
    return b


async def test_progress_ahead_of_an_event_in_flight_is_not_passed_on() -> None:
    etcd = Etcd(changed_at=12)  # an event at 12 is still on its way
    b = broadcaster(etcd, 10)
    sub = b.subscribe(PREFIX + "ns/", 10)
    await b._progress(15)
    assert b.last_revision == 10 and sub.queue.empty()  # no bookmark, no resume past 12
    b._deliver([put(12)])
    await b._progress(15)
    assert b.last_revision == 15
    assert [sub.queue.get_nowait(), sub.queue.get_nowait()] == [[put(12)], Progress(15)]
    assert etcd.asked == [(10, 15), (12, 15)]


async def test_progress_behind_what_was_delivered_asks_nothing() -> None:
    etcd = Etcd(changed_at=0)
    b = broadcaster(etcd, 20)
    await b._progress(20)
    await b._progress(18)
    assert b.last_revision == 20 and not etcd.asked


def test_an_event_delivered_after_a_confirmed_progress_does_not_move_back() -> None:
    b = broadcaster(Etcd(changed_at=0), 30)
    b._deliver([put(25)])  # a create and delete of one key in between goes unseen by counts
    assert b.last_revision == 30
