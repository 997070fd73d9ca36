"""EventRecorder: core/v1 Events about objects, for `kubectl describe`.

A repeat of the same (object, type, reason, message, component) within the
recorder's memory bumps `count` and `lastTimestamp` on the existing Event
instead of creating another, as client-go's event correlator does. Recording
is best effort: failures are logged, never raised into the reconcile loop
that reported them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from typing import Any

from minikube_py.api.meta import now_rfc3339
from minikube_py.api.resources import EVENTS
from minikube_py.api.types import Object
from minikube_py.client.errors import ClientError, NotFound
from minikube_py.client.rest import ApiClient

log = logging.getLogger(__name__)

CACHE_SIZE = 4096
EventKey = tuple[str, ...]


def object_reference(obj: Object) -> Object:
    """The involvedObject for `obj` (fields that are absent are left out)."""
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
        "namespace": meta.get("namespace"), "name": meta.get("name"),
        "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Record Events as `component` (the Event's source.component)."""

    def __init__(self, client: ApiClient, component: str, *, host: str | None = None,
                 cache_size: int = CACHE_SIZE) -> None:
        self.client = client
        self.component = component
        self.host = host or socket.gethostname()
        self.cache_size = cache_size
        self._seen: OrderedDict[EventKey, tuple[str, str, int]] = OrderedDict()
        self._locks: dict[EventKey, tuple[asyncio.Lock, int]] = {}  # lock, callers using it

    async def event(self, obj: Object, type: str, reason: str, message: str) -> None:
        """Record one occurrence; never raises (except cancellation)."""
        ref = object_reference(obj)
        key: EventKey = (ref.get("kind", ""), ref.get("namespace", ""), ref.get("name", ""),
                         ref.get("uid", ""), type, reason, message)
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:  # identical events in flight must not both create
                await self._record(key, ref, type, reason, message)
        except ClientError as e:
            log.warning("cannot record event object=%s/%s reason=%s error=%r",
                        ref.get("namespace", ""), ref.get("name", ""), reason, e)
        except Exception:
            log.exception("cannot record event object=%s/%s reason=%s",
                          ref.get("namespace", ""), ref.get("name", ""), reason)
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _record(self, key: EventKey, ref: Object, type: str, reason: str,
                      message: str) -> None:
        now = now_rfc3339()
        seen = self._seen.get(key)
        if seen is not None:
            namespace, name, count = seen
            try:
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now},
                                        namespace, patch_type="merge")
            except NotFound:
                pass  # expired or deleted: start a new one below
            else:
                self._remember(key, (namespace, name, count + 1))
                return
        namespace = ref.get("namespace") or "default"
        event: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{ref.get('name', 'unknown')}.{time.time_ns():x}",
                         "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message, "type": type,
            "source": {"component": self.component, "host": self.host},
            "reportingComponent": self.component, "reportingInstance": self.host,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        created = await self.client.create(EVENTS, event, namespace)
        self._remember(key, (namespace, created["metadata"]["name"], 1))

    def _remember(self, key: EventKey, value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > self.cache_size:
            self._seen.popitem(last=False)
