"""etcd storage: keys, revisions, compare-and-swap, watch fan-out, compaction."""

from minikube_py.store.errors import (
    Conflict,
    Expired,
    KeyExists,
    KeyNotFound,
    StorageError,
    Unavailable,
)
from minikube_py.store.storage import Item, Page, Storage
from minikube_py.store.watch import Change, Closed, WatchHub

__all__ = [
    "Change", "Closed", "Conflict", "Expired", "Item", "KeyExists", "KeyNotFound", "Page",
    "Storage", "StorageError", "Unavailable", "WatchHub",
]
