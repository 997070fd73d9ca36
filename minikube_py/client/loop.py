"""The one loop shape of every component that acts on the cluster: informers
whose handlers only enqueue keys -> a keyed WorkQueue -> workers calling an
idempotent `sync(key)` (kube-controller-manager's and client-go's names).

A subclass sets `name` (the queue's name and the Events' component), may set
`workers`, enqueues keys from its informers' handlers (`self.queue.add(key)`,
never work done in the handler) and implements `async def sync(key)`:

- `sync` decides from the caches what to do for that key; returning is
  success (the key's failure count is forgotten); a missing object is not an
  error. It may `self.queue.add_after(key, seconds)` to look again later.
- Raising is failure: the key is requeued through the queue's rate limiter
  (per key 5 ms doubling up to 1000 s, and overall 10/s with bursts of 100,
  client-go's DefaultControllerRateLimiter).
- After `max_retries` (client-go's 15) failures in a row the key is given up:
  a log line says so and, when `object_for(key)` finds the object the key
  names, a Warning Event `FailedSync` on it. It comes back with its next add.

`run_workers()` runs the workers until the queue is shut down and drained, or
until cancelled. Keys are any hashable; "namespace/name" for one object.
"""

from __future__ import annotations

from collections.abc import Hashable

from minikube_py.api.types import Object
from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import Informer
from minikube_py.client.rest import ApiClient
from minikube_py.client.workqueue import WorkQueue

MAX_RETRIES = 15  # client-go controllers' maxRetries
GIVE_UP_REASON = "FailedSync"


class SyncLoop:
    """Base of the controllers, the kubelet's pod workers and the overlay."""

    name = "loop"
    workers = 1
    max_retries: int | None = MAX_RETRIES

    def __init__(self, client: ApiClient, *, host: str | None = None,
                 queue_name: str | None = None) -> None:
        self.client = client
        self.queue = WorkQueue(queue_name or self.name)
        self.recorder = EventRecorder(client, self.name, host=host)

    async def sync(self, key: Hashable) -> None:
        """Make the world match what the caches say for `key`; raise to be retried."""
        raise NotImplementedError

    def object_for(self, key: Hashable) -> Object | None:
        """The object `key` names, for the give-up Event; None: no Event."""
        return None

    async def run_workers(self, workers: int | None = None) -> None:
        await self.queue.run_workers(self.sync, workers=workers or self.workers,
                                     max_retries=self.max_retries, on_give_up=self.gave_up)

    async def gave_up(self, key: Hashable, error: Exception) -> None:
        obj = self.object_for(key)
        if obj is not None:
            await self.recorder.event(obj, "Warning", GIVE_UP_REASON,
                                      f"{self.name} gave up after {self.max_retries} "
                                      f"retries: {error}")


def cached(informer: Informer, key: Hashable) -> Object | None:
    """`informer`'s object for a "namespace/name" (or "name") key; None for other keys."""
    return informer.get(key) if isinstance(key, str) else None
