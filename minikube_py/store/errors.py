"""Storage errors: what etcd told us, in terms the api-server can map to a Status.

The store knows nothing about HTTP; the api-server turns these into metav1.Status
(404, 409, 410, 503) at its boundary.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error the store raises; carries the etcd key it concerns."""

    def __init__(self, key: str, message: str = "") -> None:
        super().__init__(message or key)
        self.key = key


class KeyNotFound(StorageError):
    """The key does not exist (get, update or delete of a missing object)."""


class KeyExists(StorageError):
    """A create found the key already there."""


class Conflict(StorageError):
    """A compare-and-swap lost: the object changed since the caller read it."""


class Expired(StorageError):
    """The requested revision has been compacted away (HTTP 410 Gone)."""

    def __init__(self, key: str, revision: int, compacted: int) -> None:
        super().__init__(key, f"too old resource version: {revision} ({compacted})")
        self.revision = revision
        self.compacted = compacted


class Unavailable(StorageError):
    """etcd could not be reached after retrying every endpoint."""


class NoSpace(StorageError):
    """etcd's NOSPACE alarm is raised: a member's database reached its quota, so every write
    is refused (reads and deletes still pass) until space is freed and the alarm disarmed
    (store/defrag.py). The message is etcd's own, as kube-apiserver passes it on."""


class Undecryptable(StorageError):
    """A stored value no configured encryption provider can open (a wrong or missing key)."""
