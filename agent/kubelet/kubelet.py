"""The kubelet loop: pods bound to this node -> work queue -> `PodSyncer`.

Level-triggered: the informer (pods with spec.nodeName = this node), Docker events
and probe changes only enqueue "namespace/name" keys; `sync(key)` decides from
the informer cache and `docker ps` (the client's SyncLoop: a key failing 15 times
in a row is given up with a FailedSync Event until the next resync adds it again).
On start it adopts what runs (labels) before acting, and a periodic pass removes
containers whose pod is gone. dockerd being unreachable is waited out by the sync
(retried every few seconds) and never touches pod status.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from agent.kubelet import labels as L
from agent.kubelet.admission import admit
from agent.kubelet.apisource import ApiSource
from agent.kubelet.backoff import Backoff
from agent.kubelet.cni import CNI
from agent.kubelet.dns import PodDNS
from agent.kubelet.errors import ContainerConfigError, RuntimeUnavailable
from agent.kubelet.eviction import EVICTED, EmptyDirEviction
from agent.kubelet.images import ensure_local_images
from agent.kubelet.kernel_oom import KernelOomLog
from agent.kubelet.localpath import LocalPathCleaner
from agent.kubelet.node import capacity
from agent.kubelet.pod_sync import PodSyncer
from agent.kubelet.probes import Probes
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.sandbox import Sandboxes
from agent.kubelet.status import comparable
from agent.kubelet.volumes import VolumeManager
from agent.settings import AgentSettings
from minikube_py.api import backoff
from minikube_py.api.meta import join_key, now_rfc3339
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import PODS
from minikube_py.api.types import Object, PodStatus
from minikube_py.client import ApiClient, Informer, run_tasks
from minikube_py.client.errors import Conflict, NotFound
from minikube_py.client.loop import SyncLoop, cached

log = logging.getLogger(__name__)

DOCKER_RETRY_SECONDS = 2.0


def _revision(obj: dict[str, Any]) -> int:
    """resourceVersion as a number (ours are etcd revisions); 0 when it is not one."""
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


def as_written(pod: dict[str, Any], sent: tuple[PodStatus, int] | None) -> dict[str, Any]:
    """The pod with `sent` (the status we last wrote, its resourceVersion) while the cache
    has not caught up with that write: a status computed from the older one would move
    startTime and the conditions' transition times, and be written again (Kubernetes'
    status manager keeps its own copy of what it wrote for the same reason)."""
    if sent is None or _revision(pod) >= sent[1]:
        return pod
    return {**pod, "status": sent[0]}


class Kubelet(SyncLoop):
    """The pods of one node: informer + work queue + `PodSyncer`, plus the loops that keep
    it honest (resync, orphan collection, Docker events)."""

    name = "kubelet"

    def __init__(self, client: ApiClient, settings: AgentSettings, runtime: DockerRuntime,
                 host_ip: str) -> None:
        super().__init__(client, host=settings.node_name,
                         queue_name=f"kubelet-{settings.node_name}")
        self.settings, self.runtime = settings, runtime
        self.node = settings.node_name
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={self.node}",
                             resync_period=None)
        self.probes = Probes(runtime, on_change=self.queue.add, events=self._event)
        cni = CNI(settings.cni_conf_dir, settings.cni_bin_dirs, f"{settings.state_dir}/cni")
        source = ApiSource(client)
        self.kernel_oom = KernelOomLog()
        self.syncer = PodSyncer(
            runtime=runtime, sandboxes=Sandboxes(runtime, cni, self.node, host_ip),
            volumes=VolumeManager(settings.state_dir, source, client.config.ca_data,
                                  docker_url=settings.docker_url),
            source=source, node=self.node,
            host_ip=host_ip, probes=self.probes, events=self._event,
            backoff=Backoff(settings.crash_backoff_initial, settings.crash_backoff_max),
            dns=PodDNS(settings.dns_servers(), settings.cluster_domain,
                       Path(settings.resolv_conf)), kernel_oom=self.kernel_oom)
        self.pods.add_handlers(on_add=lambda o: self.queue.add(object_key(o)),
                               on_update=lambda old, new: self.queue.add(object_key(new)),
                               on_delete=lambda o: self.queue.add(object_key(o)))
        self._docker_events: Any = None
        self.local_path = LocalPathCleaner(client, settings.local_path_roots())
        volumes = self.syncer.volumes
        self.eviction = EmptyDirEviction(
            self.pods.list, lambda uid, name: volumes.pod_dir(uid) / "volumes" / name,
            self._evict)
        self._evictions: dict[str, str] = {}  # uid -> why it is evicted
        self.allocatable = capacity(settings, settings.state_dir)
        self._admitted_uids: set[str] = set()
        # uid -> (status we last wrote, its resourceVersion): what a sync starts from while
        # the cache is older than our own write (as_written).
        self._sent: dict[str, tuple[PodStatus, int]] = {}

    async def _event(self, pod: dict[str, Any], etype: str, reason: str, message: str) -> None:
        try:
            await self.recorder.event(pod, etype, reason, message)
        except Exception as e:  # noqa: BLE001 - an Event is never worth failing a sync
            log.info("event not recorded reason=%s err=%r", reason, e)

    async def run(self) -> None:
        """Forever: build images, sync the cache, adopt, then sync pods on every signal."""
        await self._wait_for_docker()
        await ensure_local_images(self.runtime)
        try:
            await run_tasks({"pod-informer": self.pods.run(),
                             "kernel-oom-log": self.kernel_oom.run(), "kubelet": self._work()})
        finally:
            self.queue.shutdown()
            if self._docker_events is not None:
                self._docker_events.close()
            await self.probes.close()

    async def _work(self) -> None:
        await self.pods.wait_synced()
        await run_tasks({
            "workers": self.run_workers(self.settings.workers),
            "resync": self._resync_loop(),
            "docker-events": self._docker_events_loop(),
            "local-path-cleaner": self.local_path.run(),
            "eviction": self.eviction.run(),
        })

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.pods, key)

    async def sync(self, key: Hashable) -> None:
        """One pod; dockerd being away is waited out here (no status is written for it)."""
        try:
            await self._sync(str(key))
        except RuntimeUnavailable as e:
            log.warning("docker unavailable, retrying pod=%s err=%s", key, e)
            self.queue.add_after(key, DOCKER_RETRY_SECONDS)

    async def _sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        pod = self.pods.get(key)
        if pod is not None:
            pod = as_written(pod, self._sent.get(pod["metadata"]["uid"]))
        uid = pod["metadata"]["uid"] if pod else ""
        named = await self.syncer.observed(namespace=namespace, name=name)
        stale: dict[str, int] = {}
        for o in named:  # containers of a pod of this name that no longer exists
            if o.pod_uid != uid:
                stale[o.pod_uid] = max(stale.get(o.pod_uid, 0), o.grace)
        for old_uid, grace in stale.items():
            log.info("removing containers of a deleted pod pod=%s uid=%s", key, old_uid)
            await self.syncer.teardown(old_uid, grace=grace)
        if pod is None:
            return
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            grace = int(meta.get("deletionGracePeriodSeconds",
                                 pod["spec"].get("terminationGracePeriodSeconds", 30)))
            await self.syncer.teardown(meta["uid"], grace=grace, pod=pod)
            try:
                await self.client.delete(PODS, name, namespace, grace_period_seconds=0,
                                         preconditions={"uid": meta["uid"]})
            except (NotFound, Conflict):
                pass  # already gone, or a new pod of the same name: not ours to delete
            self._admitted_uids.discard(meta["uid"])
            self._sent.pop(meta["uid"], None)
            log.info("pod deleted pod=%s uid=%s", key, meta["uid"])
            return
        if not await self._admitted(pod):
            return
        ours = [o for o in named if o.pod_uid == uid]
        evicted = self._evictions.get(uid)
        if evicted is not None and (pod.get("status") or {}).get("phase") not in (
                "Succeeded", "Failed"):
            result = await self.syncer.fail(pod, ours, EVICTED, evicted, grace=0)
        else:
            result = await self.syncer.sync(pod, ours)
        if result.status is not None:
            await self._write_status(pod, result.status)
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)

    async def _admitted(self, pod: dict[str, Any]) -> bool:
        """First sight of a pod: does it fit? A pod that does not is Failed, never started."""
        uid = pod["metadata"]["uid"]
        status = pod.get("status") or {}
        if uid in self._admitted_uids or status.get("startTime") or \
                status.get("phase") in ("Succeeded", "Failed"):
            return True
        if await self.syncer.observed(uid):  # already running: adopted, not admitted anew
            self._admitted_uids.add(uid)
            return True
        running = [p for p in self.pods.list()
                   if p["metadata"]["uid"] != uid
                   and (p["metadata"]["uid"] in self._admitted_uids
                        or (p.get("status") or {}).get("startTime"))
                   and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        rejected = admit(pod, running, self.allocatable)
        if rejected is None:
            self._admitted_uids.add(uid)
            return True
        reason, message = rejected
        log.info("pod rejected pod=%s reason=%s", object_key(pod), reason)
        await self._event(pod, "Warning", reason, message)
        await self._write_status(pod, {"phase": "Failed", "reason": reason, "message": message,
                                       "startTime": now_rfc3339()})
        return False

    def _evict(self, pod: dict[str, Any], message: str) -> None:
        """The eviction manager's verdict: the next sync of the pod ends it."""
        self._evictions[pod["metadata"]["uid"]] = message
        self.queue.add(object_key(pod))

    async def container_id(self, namespace: str, name: str, container: str,
                           previous: bool) -> str | None:
        """The Docker ID of a pod's container (or of its previous instance), for logs/exec."""
        pod = self.pods.get(join_key(namespace, name))
        if pod is None:
            return None
        insts = sorted((o for o in await self.syncer.observed(pod["metadata"]["uid"])
                        if o.kind != L.SANDBOX and o.name == container),
                       key=lambda o: (o.restart_count, o.created), reverse=True)
        index = 1 if previous else 0
        return insts[index].id if len(insts) > index else None

    async def _write_status(self, pod: dict[str, Any], status: PodStatus) -> None:
        """Merge-patch the status subresource, only if it changed. Lists are replaced
        whole by a merge patch; top-level keys that went away are sent as null."""
        old = pod.get("status") or {}
        new = comparable(status)
        if new == comparable(old):
            return
        meta = pod["metadata"]
        patch = dict(status)
        for k in old:
            patch.setdefault(k, None)
        try:
            written = await self.client.patch(PODS, meta["name"], {"status": patch},
                                              meta["namespace"], subresource="status")
        except NotFound:
            return
        self._sent[meta["uid"]] = (written.get("status") or status, _revision(written))
        log.info("pod status pod=%s/%s phase=%s", meta["namespace"], meta["name"], status["phase"])

    async def _resync_loop(self) -> None:
        """Every pod now and then, and the garbage collection of orphans (pods' volume
        directories and mounts: also right at start)."""
        while True:
            try:
                await self.collect_orphan_volumes()
            except (RuntimeUnavailable, ContainerConfigError, OSError) as e:
                log.warning("volume garbage collection failed err=%r", e)
            await asyncio.sleep(self.settings.resync_period)
            try:
                await self.collect_orphans()
            except RuntimeUnavailable as e:
                log.warning("docker unavailable err=%s", e)
            self._enqueue_all()

    async def collect_orphan_volumes(self) -> None:
        """Unmount and remove the volume directories of pods that no longer exist and have
        no container here (an agent restarted after its pod was deleted)."""
        live = {p["metadata"]["uid"] for p in self.pods.list()}
        running = {o.pod_uid for o in await self.syncer.observed()}
        pods_dir = Path(self.settings.state_dir) / "pods"
        uids = await asyncio.to_thread(lambda: [d.name for d in pods_dir.glob("*")])
        for uid in set(uids) - live - running:
            log.info("removing orphaned pod volumes uid=%s", uid)
            await self.syncer.volumes.cleanup(uid)

    async def collect_orphans(self) -> None:
        """Queue the names of pods that have containers here but no longer exist (by UID);
        the workers tear them down, each with its pod's grace period."""
        live = {p["metadata"]["uid"] for p in self.pods.list()}
        self._admitted_uids &= live
        self.eviction.forget(live)
        self._evictions = {uid: m for uid, m in self._evictions.items() if uid in live}
        for uid in set(self._sent) - live:
            del self._sent[uid]
        for o in await self.syncer.observed():
            if o.pod_uid in live:
                continue
            if o.namespace and o.pod_name:
                self.queue.add(join_key(o.namespace, o.pod_name))
            else:  # labelled for this node but not as any pod's: remove just this container
                log.info("removing unnamed container container=%s", o.id[:12])
                await self.runtime.remove(o.id)

    async def _wait_for_docker(self) -> None:
        retry = backoff.Backoff(0.5, 5.0)
        while not await self.runtime.ping():
            log.warning("waiting for dockerd")
            await retry.sleep()

    async def _docker_events_loop(self) -> None:
        """Container start/die/oom events -> the pod's key; reconnects after dockerd restarts."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wait_for_docker()
            self._enqueue_all()  # whatever happened while we were not listening
            done = asyncio.Event()
            threading.Thread(target=self._pump_docker_events, args=(loop, done),
                             name="docker-events", daemon=True).start()
            await done.wait()
            await asyncio.sleep(1)

    def _pump_docker_events(self, loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
        """Blocking (its own thread): Docker's event stream -> queue keys on the loop."""
        try:
            self._docker_events = self.runtime.events({L.NODE: self.node})
            for ev in self._docker_events:
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                if ev.get("Action") in ("start", "die", "oom", "destroy") and L.POD_NAME in attrs:
                    key = f"{attrs.get(L.POD_NAMESPACE)}/{attrs[L.POD_NAME]}"
                    loop.call_soon_threadsafe(self.queue.add, key)
        except Exception as e:  # noqa: BLE001 - the stream ends when dockerd goes away
            log.info("docker event stream ended err=%r", e)
        finally:
            loop.call_soon_threadsafe(done.set)

    def _enqueue_all(self) -> None:
        for pod in self.pods.list():
            self.queue.add(object_key(pod))
