"""A watch's backlog: bounded in changes, so a client that stops reading cannot hold memory."""

from __future__ import annotations

from minikube_py.apiserver.watch import Backlog
from minikube_py.store import Change, Progress


def changes(n: int) -> list[Change]:
    return [Change("PUT", f"/registry/configmaps/ns/c{i}", b"{}", None, i + 1, True)
            for i in range(n)]


async def test_past_the_bound_the_watch_is_closed_and_nothing_more_is_queued() -> None:
    closed: list[bool] = []
    backlog = Backlog(10, lambda: closed.append(True))
    assert backlog.put(changes(6)) and backlog.put(Progress(7)) and backlog.put(changes(4))
    assert not closed
    assert not backlog.put(changes(1))
    assert closed == [True] and backlog.queue.qsize() == 3


async def test_what_the_client_takes_makes_room() -> None:
    backlog = Backlog(10, lambda: None)
    assert backlog.put(changes(8))
    taken = await backlog.get()
    assert isinstance(taken, list) and len(taken) == 8
    assert backlog.put(changes(8)) and backlog.changes == 8


def test_one_burst_into_an_empty_backlog_fits() -> None:
    closed: list[bool] = []
    backlog = Backlog(10, lambda: closed.append(True))
    assert backlog.put(changes(50)) and not closed
    assert not backlog.put(changes(1)) and closed
