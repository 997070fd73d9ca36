"""The informer's local cache: objects by key plus named secondary indices.

Keys are api.meta.key's: "namespace/name" for namespaced objects, "name" otherwise (as
client-go's MetaNamespaceKeyFunc). Everything runs on one event loop, so
plain dicts are safe as long as no method awaits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from minikube_py.api.types import Object

log = logging.getLogger(__name__)

IndexFunc = Callable[[Object], Iterable[str]]
Objects = list[Object]  # aliases: inside classes with a list() method, `list` is taken
Keys = list[str]


class Indexer:
    """A key -> object store that keeps its indices in step on every write.

    The values each key was indexed under are remembered, so removal is right
    even if an index function is not deterministic or a caller mutated the
    cached object in place.
    """

    def __init__(self) -> None:
        self._items: dict[str, Object] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._indexed: dict[str, dict[str, tuple[str, ...]]] = {}

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Index every current and future object by the values `fn` returns."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = fn
        self._indices[name] = {}
        self._indexed[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj)

    def get(self, key: str) -> Object | None:
        return self._items.get(key)

    def list(self) -> Objects:
        return list(self._items.values())

    def keys(self) -> Keys:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, name: str, value: str) -> Objects:
        """Objects whose index function returned `value` (KeyError for an unknown index)."""
        return [self._items[k] for k in self._indices[name].get(value, ())]

    def index_keys(self, name: str, value: str) -> Keys:
        return list(self._indices[name].get(value, ()))

    def put(self, key: str, obj: Object) -> Object | None:
        """Store `obj`; the previous object (if any) is returned."""
        old = self._items.get(key)
        if old is not None:
            self._unindex(key)
        self._items[key] = obj
        for name in self._index_funcs:
            self._index_one(name, key, obj)
        return old

    def remove(self, key: str) -> Object | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key)
        return old

    def _index_one(self, name: str, key: str, obj: Object) -> None:
        try:
            values = tuple(self._index_funcs[name](obj))
        except Exception:
            log.exception("index function failed index=%s key=%s", name, key)
            values = ()
        self._indexed[name][key] = values
        index = self._indices[name]
        for value in values:
            index.setdefault(value, set()).add(key)

    def _unindex(self, key: str) -> None:
        for name, index in self._indices.items():
            for value in self._indexed[name].pop(key, ()):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
