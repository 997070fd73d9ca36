"""The APIService availability controller: keeps each APIService's Available condition.

As kube-aggregator's (pkg/controllers/status): Local APIServices are available; a
service-backed one is available when its Service exists and listens on the port, its
Endpoints have a ready address for that port, and the server answers its discovery
document (GET /apis/<group>/<version>) with 200; otherwise the condition is False with
the failing check's reason (ServiceNotFound, ServicePortError, EndpointsNotFound,
MissingEndpoints, FailedDiscoveryCheck). Runs in the primary api-server process only; it
re-checks on every APIService event and every RECHECK seconds (Services and Endpoints
change without telling it).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging

from minikube_py.api import apiservice, errors, meta
from minikube_py.api.resources import APISERVICES
from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object
from minikube_py.apiserver.aggregation import Aggregator
from minikube_py.apiserver.aggregation_backend import Unavailable
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import StorageError

log = logging.getLogger(__name__)

RECHECK = 5.0


async def condition(aggregator: Aggregator, obj: Object) -> dict[str, str]:
    """The Available condition `obj` should have now (without lastTransitionTime)."""
    if apiservice.service_ref(obj) is None:
        return {"type": "Available", "status": "True", "reason": "Local",
                "message": "Local APIServices are always available"}
    spec = as_dict(obj.get("spec"))
    try:
        await aggregator.backends.get_json(obj, f"/apis/{spec.get('group')}/"
                                                f"{spec.get('version')}")
    except Unavailable as e:
        return {"type": "Available", "status": "False", "reason": e.reason,
                "message": e.message}
    return {"type": "Available", "status": "True", "reason": "Passed",
            "message": "all checks passed"}


class Availability:
    """Writes status.conditions[Available] of every APIService when it changes."""

    def __init__(self, aggregator: Aggregator, store: ObjectStore,
                 recheck: float = RECHECK) -> None:
        self.aggregator, self.store, self.recheck = aggregator, store, recheck

    async def run(self) -> None:
        await self.aggregator.synced.wait()
        while True:
            self.aggregator.changed.clear()
            for obj in list(self.aggregator.by_name.values()):
                await self.check(obj)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.aggregator.changed.wait(), self.recheck)

    async def check(self, obj: Object) -> None:
        wanted = await condition(self.aggregator, obj)
        if not meta.set_condition(copy.deepcopy(as_dict(obj.get("status"))), wanted):
            return
        name = str(as_dict(obj.get("metadata")).get("name"))
        try:
            current = await self.store.get(APISERVICES, None, name)
            status = as_dict(current.setdefault("status", {}))
            if not meta.set_condition(status, wanted):
                return
            await self.store.update(APISERVICES, current,
                                    int(current["metadata"]["resourceVersion"]))
        except (errors.StatusError, StorageError) as e:  # changed meanwhile: its event comes
            log.info("apiservice status not written name=%s error=%s", name, e)
            return
        log.info("apiservice availability name=%s status=%s reason=%s", name,
                 wanted["status"], wanted["reason"])
