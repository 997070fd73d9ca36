"""The watch cache's bookkeeping: changes applied in order, scopes in key order, and a
consistent read only when etcd confirms the cache current (storage faked here; the
real boundary is tests/integration/test_apiserver_limits.py)."""

from __future__ import annotations

from typing import Any, cast

from minikube_py.store import Change, Item, Progress, Storage, WatchHub
from minikube_py.store.watch_cache import PrefixCache

PREFIX = "/registry/configmaps/"


def put(name: str, revision: int, created: bool = True) -> Change:
    return Change("PUT", PREFIX + name, f'{{"v":{revision}}}'.encode(), None, revision, created)


def delete(name: str, revision: int) -> Change:
    return Change("DELETE", PREFIX + name, b"{}", None, revision, False)


class Etcd:
    """`unchanged_since` as etcd would answer for `changed_after` and `keys`."""

    def __init__(self, now: int, changed_after: int, keys: int) -> None:
        self.now, self.changed_after, self.keys = now, changed_after, keys
        self.asked: list[tuple[int, int]] = []

    async def unchanged_since(self, prefix: str, revision: int, count: int) -> int | None:
        self.asked.append((revision, count))
        ok = prefix == PREFIX and revision >= self.changed_after and count == self.keys
        return self.now if ok else None


def cache(etcd: Any = None) -> PrefixCache:
    return PrefixCache(cast(Storage, etcd), cast(WatchHub, None), PREFIX)


def test_changes_are_applied_and_scopes_come_in_key_order() -> None:
    c = cache()
    c.apply([put("b/x", 5), put("a/y", 6), put("a/x", 7)])
    c.apply(Progress(50))  # etcd 3.4 may send these ahead of events: not a revision
    assert c.revision == 7
    c.apply([put("a/y", 8, created=False), delete("b/x", 9), delete("never", 10)])
    assert c.revision == 10
    assert [i.key for i in c.scope(PREFIX)] == [PREFIX + "a/x", PREFIX + "a/y"]
    assert c.scope(PREFIX + "a/y") == [Item(PREFIX + "a/y", b'{"v":8}', 8, 6)]
    assert c.scope(PREFIX + "b/") == []


async def test_a_consistent_read_waits_for_etcd_to_confirm_the_cache() -> None:
    etcd = Etcd(now=40, changed_after=7, keys=2)
    c = cache(etcd)
    assert await c.current() is None  # not synced
    assert not etcd.asked
    c.apply([put("a", 5), put("b", 6)])
    assert await c.current() is None  # etcd holds a change the cache has not seen
    assert len(etcd.asked) == 3
    c.apply([put("b", 7, created=False)])
    assert await c.current() == 40
    assert etcd.asked[-1] == (7, 2)
