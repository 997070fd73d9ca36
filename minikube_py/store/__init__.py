"""etcd storage: keys, revisions, compare-and-swap, watch fan-out, compaction."""

from minikube_py.store.errors import (
    Conflict,
    Expired,
    KeyExists,
    KeyNotFound,
    NoSpace,
    StorageError,
    Unavailable,
    Undecryptable,
)
from minikube_py.store.storage import Item, Page, Storage
from minikube_py.store.watch import Batch, Change, Closed, Progress, WatchHub
from minikube_py.store.watch_cache import WatchCache

__all__ = [
    "Batch", "Change", "Closed", "Conflict", "Expired", "Item", "KeyExists", "KeyNotFound", "NoSpace",
    "Page", "Progress", "Storage", "StorageError", "Unavailable", "Undecryptable", "WatchCache",
    "WatchHub",
]
