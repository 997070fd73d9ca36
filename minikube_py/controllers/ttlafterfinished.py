"""TTL-after-finished controller (kube-controller-manager's ttlafterfinished):
deletes a finished Job `ttlSecondsAfterFinished` after its Complete or Failed
condition, with foreground propagation so its pods go first.

The cache may be stale (the TTL just changed, the Job was recreated): before
deleting, the Job is read fresh and the delete carries its uid as a
precondition, as Kubernetes does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import get_condition, split_key
from minikube_py.api.resources import JOBS
from minikube_py.api.types import Object
from minikube_py.client.errors import Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers.base import Controller
from minikube_py.controllers.pods import parse_time

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)



def expires_in(job: Object, now: float) -> float | None:
    """Seconds until the finished Job's TTL runs out (<= 0: now); None: it has no TTL,
    is not finished, or is already being deleted."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or job["metadata"].get("deletionTimestamp"):
        return None
    for kind in ("Complete", "Failed"):
        condition = get_condition(job, kind)
        if condition and condition.get("status") == "True":
            finished = parse_time(condition.get("lastTransitionTime"))
            return finished + int(ttl) - now
    return None


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.jobs = self.watch(JOBS)
        self.jobs.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.clock = time.time

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.jobs, key)

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        job = self.jobs.get(key)
        if job is None or not self.due(key, expires_in(job, self.clock())):
            return
        namespace, name = split_key(key)
        try:
            fresh = await self.client.get(JOBS, name, namespace)
            if not self.due(key, expires_in(fresh, self.clock())):
                return
            await self.client.delete(JOBS, name, namespace, propagation_policy="Foreground",
                                     preconditions={"uid": fresh["metadata"]["uid"]})
        except (NotFound, Conflict):
            return
        log.info("job expired and deleted job=%s", key)
