"""The scheduler loop: informers feed the cache and the queue; one loop takes
the best pending pod, decides (CPU only, no awaits), assumes the pod on its
node and hands the binding to a bounded pool of concurrent binders, so the
next decision starts while the api-server is still answering the last one.
"""

from __future__ import annotations

import asyncio
import logging
import random

from minikube_py.api.meta import key as object_key
from minikube_py.api.meta import set_condition
from minikube_py.api.resources import NAMESPACES, NODES, PODS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, EventRecorder, Informer, run_tasks
from minikube_py.client.errors import ClientError, Conflict, NotFound
from minikube_py.client.tasks import log_failure
from minikube_py.scheduler.algorithm import Algorithm, FitError
from minikube_py.scheduler.cache import SchedulerCache
from minikube_py.scheduler.eventsink import EventSink
from minikube_py.scheduler.interpod import prepare
from minikube_py.scheduler.podinfo import PodInfo, pod_info
from minikube_py.scheduler.queue import SchedulingQueue
from minikube_py.scheduler.settings import SchedulerSettings
from minikube_py.scheduler.volumebinding import VolumeBinding

log = logging.getLogger(__name__)

_NODE_FIELDS = ("labels", "taints", "unschedulable", "ready", "alloc_cpu", "alloc_memory",
                "alloc_pods")


def _terminal(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _same_for_scheduling(old: Object, new: Object) -> bool:
    """Only status (or nothing we read) changed, as Kubernetes' isPodUpdated."""
    old_meta, new_meta = old["metadata"], new["metadata"]
    return (old.get("spec") == new.get("spec")
            and old_meta.get("labels") == new_meta.get("labels")
            and old_meta.get("deletionTimestamp") == new_meta.get("deletionTimestamp"))


class Scheduler:
    """One scheduler instance (run it while holding the leader Lease)."""

    def __init__(self, client: ApiClient, settings: SchedulerSettings, *,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.settings = settings
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue(unschedulable_timeout=settings.unschedulable_timeout)
        self.volumes = VolumeBinding(client, settings.volume_bind_timeout)
        self.algorithm = Algorithm(rng=rng, percentage=settings.percentage_of_nodes_to_score,
                                   volumes=self.volumes.filter)
        # namespaces: their labels, for namespaceSelector terms
        self.pods, self.nodes, self.namespaces = (
            Informer(client, r)
            for r in (PODS, NODES, NAMESPACES))
        self.events = EventSink(EventRecorder(client, "default-scheduler"),
                                settings.event_backlog, busy=self._busy)
        self._binders = asyncio.Semaphore(settings.bind_concurrency)
        self._bind_tasks: set[asyncio.Task[None]] = set()
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handlers(self._node_added, self._node_updated, self._node_deleted)
        for informer in self.volumes.informers:  # a claim bound, a volume or class added
            informer.add_handlers(self._storage_changed, lambda old, new: self._storage_changed(
                new))

    # -- informer handlers: cache and queue only -----------------------------------

    def _ours(self, pod: Object) -> bool:
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        return name == self.settings.scheduler_name

    def _pod_added(self, pod: Object) -> None:
        key = object_key(pod)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            self.queue.delete(key)
            if _terminal(pod):
                self.cache.remove_pod(key)
                self.queue.move_all_to_backoff()
            elif not self.cache.confirm(key, node_name):
                self.cache.set_bound_pod(self._digest(pod), node_name)
        elif self._ours(pod) and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(self._digest(pod))

    def _pod_updated(self, old: Object, new: Object) -> None:
        node_name = (new.get("spec") or {}).get("nodeName")
        if not node_name and _same_for_scheduling(old, new):
            return  # e.g. our own PodScheduled=False write: retrying would change nothing
        if node_name and old["metadata"].get("labels") != new["metadata"].get("labels") \
                and not _terminal(new):
            # Labels are what inter-pod terms select: the digest must follow them.
            self.cache.set_bound_pod(self._digest(new), node_name)
            self.queue.move_all_to_backoff()
            return
        self._pod_added(new)

    def _pod_deleted(self, pod: Object) -> None:
        key = object_key(pod)
        self.queue.delete(key)
        if (pod.get("spec") or {}).get("nodeName"):
            self.cache.remove_pod(key)
            self.queue.move_all_to_backoff()

    def _digest(self, pod: Object) -> PodInfo:
        try:
            return pod_info(pod)
        except ValueError as e:  # validation should have refused it; count it as empty
            log.warning("bad resource quantity pod=%s error=%s", object_key(pod), e)
            return PodInfo(key=object_key(pod), uid=str(pod["metadata"].get("uid", "")))

    def _node_added(self, node: Object) -> None:
        self.cache.set_node(node)
        self.queue.move_all_to_backoff()

    def _node_updated(self, old: Object, new: Object) -> None:
        info = self.cache.node(new["metadata"]["name"])
        before = tuple(getattr(info, f) for f in _NODE_FIELDS) if info else None
        self.cache.set_node(new)
        info = self.cache.node(new["metadata"]["name"])
        if info is not None and before != tuple(getattr(info, f) for f in _NODE_FIELDS):
            self.queue.move_all_to_backoff()

    def _storage_changed(self, _: Object) -> None:
        self.queue.move_all_to_backoff()

    def _namespace_labels(self, name: str) -> dict[str, str] | None:
        namespace = self.namespaces.get(name)
        return namespace["metadata"].get("labels") if namespace is not None else None

    def _node_deleted(self, node: Object) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    # -- the loop ------------------------------------------------------------------

    def _busy(self) -> bool:
        """Bindings are queueing up: Events wait (see eventsink)."""
        return len(self._bind_tasks) >= self.settings.bind_concurrency // 4

    async def run(self) -> None:
        """Forever: informers, the queue flusher, event writers and the decision loop."""
        await run_tasks({
            "scheduler-pod-informer": self.pods.run(),
            "scheduler-node-informer": self.nodes.run(),
            "scheduler-namespace-informer": self.namespaces.run(),
            **{f"scheduler-{i.resource.plural}-informer": i.run()
               for i in self.volumes.informers},
            "scheduler-queue-flusher": self.queue.run_flusher(),
            "scheduler-events": self.events.run(self.settings.event_workers),
            "scheduler-loop": self._schedule_loop(),
        })

    async def _schedule_loop(self) -> None:
        await self.pods.wait_synced()
        await self.nodes.wait_synced()
        await self.namespaces.wait_synced()
        for informer in self.volumes.informers:
            await informer.wait_synced()
        log.info("scheduler synced nodes=%d pending=%d", len(self.cache.nodes()), len(self.queue))
        try:
            while True:
                info = await self.queue.pop()
                await self._binders.acquire()
                self.schedule_one(info)
        finally:
            for task in list(self._bind_tasks):
                task.cancel()
            await asyncio.gather(*self._bind_tasks, return_exceptions=True)

    def schedule_one(self, info: PodInfo) -> None:
        """Decide for one pod; the binding runs as a task (holding a binder slot)."""
        nodes = self.cache.nodes()
        affinity = prepare(info, nodes, self.cache.affinity_nodes(), self._namespace_labels)
        try:
            node_name = self.algorithm.select(info, nodes, affinity)
        except FitError as e:
            self._binders.release()
            self.queue.failed(info.key, unschedulable=True)
            self._report_unschedulable(info, e.message)
            return
        self.cache.assume(info, node_name)
        self._track(asyncio.create_task(self._bind(info, node_name), name=f"bind-{info.key}"))

    async def _bind(self, info: PodInfo, node_name: str) -> None:
        namespace, name = info.key.split("/", 1)
        binding = {
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": info.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            if info.claims:
                await self.volumes.prebind(self.client, info, node_name)
            await self.client.create(PODS, binding, namespace, subresource="binding", name=name)
        except TimeoutError as e:
            log.warning("volume binding timed out pod=%s node=%s error=%s", info.key, node_name,
                        e)
            self.cache.forget(info.key)
            self.queue.failed(info.key, unschedulable=False)
        except (NotFound, Conflict) as e:
            # Deleted, or bound by someone else: the informer brings the truth.
            log.info("binding refused pod=%s node=%s error=%s", info.key, node_name, e)
            self.cache.forget(info.key)
            self.queue.failed(info.key, unschedulable=False)
        except ClientError as e:
            log.warning("binding failed pod=%s node=%s error=%r", info.key, node_name, e)
            self.cache.forget(info.key)
            self.queue.failed(info.key, unschedulable=False)
        else:
            self.queue.done(info.key)
            pod = self.pods.get(info.key)
            if pod is not None:
                self.events.emit(pod, "Normal", "Scheduled",
                                 f"Successfully assigned {info.key} to {node_name}")
        finally:
            self._binders.release()

    def _report_unschedulable(self, info: PodInfo, message: str) -> None:
        pod = self.pods.get(info.key)
        if pod is None:
            return
        log.info("pod unschedulable pod=%s message=%r", info.key, message)
        self.events.emit(pod, "Warning", "FailedScheduling", message)
        status = {"conditions": [dict(c) for c in (pod.get("status") or {}).get("conditions")
                                 or []]}
        changed = set_condition(status, {"type": "PodScheduled", "status": "False",
                                         "reason": "Unschedulable", "message": message})
        if changed:
            self._track(asyncio.create_task(self._patch_status(info.key, status),
                                            name=f"unschedulable-{info.key}"))

    def _track(self, task: asyncio.Task[None]) -> None:
        """Keep the task until it ends (awaited at shutdown); log it if it fails."""
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)
        task.add_done_callback(log_failure)

    async def _patch_status(self, key: str, status: Object) -> None:
        namespace, name = key.split("/", 1)
        try:
            await self.client.patch(PODS, name, {"status": status}, namespace,
                                    patch_type="merge", subresource="status")
        except ClientError as e:
            log.info("cannot set PodScheduled pod=%s error=%r", key, e)
