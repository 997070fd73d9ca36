"""Node lifecycle: notices nodes that stopped reporting, and moves their pods.

A node is alive while its Lease in kube-node-lease (or its Ready heartbeat)
keeps changing. When nothing changed for `node_monitor_grace_period`, its
conditions go Unknown (NodeStatusUnknown), its pods' Ready goes False at
once, and it gets the node.kubernetes.io/unreachable taint (not-ready when
the node itself says NotReady), NoSchedule and NoExecute. Pods are evicted
when their toleration of the NoExecute taint runs out; the default toleration
(DefaultTolerationSeconds' 300 s) becomes `pod_eviction_timeout`. When the
node reports Ready again, the taints go. The NoExecute taint is placed at the
rate of the node's zone, and not at all while every zone is fully disrupted
(nodedisruption.py: a control plane cut off from its nodes must not evict the
cluster).

Pods bound to a Node that does not exist are deleted (pod GC): at once when
the Node is deleted while we run, and on the periodic look otherwise (a Node
deleted while the controller-manager was down, a pod bound to a typo).

"Changed" is judged by when *we* saw a new renewTime, not by its value, so a
node with a skewed clock is neither killed nor kept alive by it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import get_condition, join_key, now_rfc3339, set_condition
from minikube_py.api.resources import LEASES, NODES, PODS
from minikube_py.api.taints import toleration_seconds
from minikube_py.api.types import NodeSpec, Object, Taint, Toleration
from minikube_py.client import run_tasks
from minikube_py.client.errors import ClientError, Conflict, NotFound
from minikube_py.controllers.base import Controller, ensure_index
from minikube_py.controllers.nodedisruption import ZoneGuard, zone_of
from minikube_py.controllers.pods import is_ready, parse_time

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def desired_taints(node: Object, now: str, *, no_execute: bool = True) -> list[Taint]:
    """The node's taints with ours set to match its Ready condition; without
    `no_execute`, our NoExecute taints are neither added nor kept."""
    ready = get_condition(node, "Ready") or {}
    # No Ready condition yet (just registered): nothing to say until the grace runs out.
    wanted_key = {"Unknown": UNREACHABLE, "False": NOT_READY}.get(ready.get("status", ""))
    spec: NodeSpec = node.get("spec") or {}
    taints = [t for t in spec.get("taints") or []
              if t.get("key") not in (UNREACHABLE, NOT_READY)
              or (t.get("key") == wanted_key and (no_execute or t.get("effect") != "NoExecute"))]
    for effect in ("NoSchedule", "NoExecute") if no_execute else ("NoSchedule",):
        if wanted_key and not any(t.get("key") == wanted_key and t.get("effect") == effect
                                  for t in taints):
            taint: Taint = {"key": wanted_key, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = now
            taints.append(taint)
    return taints


DEFAULT_TOLERATION_SECONDS = 300  # what the api-server's DefaultTolerationSeconds adds


def _is_default(toleration: Toleration) -> bool:
    return (toleration.get("key") in (NOT_READY, UNREACHABLE)
            and toleration.get("operator") == "Exists"
            and toleration.get("effect") == "NoExecute"
            and toleration.get("tolerationSeconds") == DEFAULT_TOLERATION_SECONDS)


def effective_tolerations(tolerations: list[Toleration], seconds: float) -> list[Toleration]:
    """Tolerations with --pod-eviction-timeout as the default for not-ready and
    unreachable: added when missing, and replacing the admission default (a
    toleration identical to the one DefaultTolerationSeconds writes is taken
    as that default, not as a user's choice)."""
    result: list[Toleration] = [{**t, "tolerationSeconds": seconds} if _is_default(t) else t
                                for t in tolerations]
    for key in (NOT_READY, UNREACHABLE):
        if not any(t.get("key") == key or (not t.get("key") and t.get("operator") == "Exists")
                   for t in tolerations):
            result.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                           "tolerationSeconds": seconds})
    return result


class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"
    workers = 4

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.nodes = self.watch(NODES)
        self.leases = self.watch(LEASES)
        self.pods = self.watch(PODS)
        ensure_index(self.pods, "node", lambda p: [(p.get("spec") or {}).get("nodeName") or ""])
        self.nodes.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        self.leases.add_handlers(self._lease, lambda old, new: self._lease(new))
        self._seen: dict[str, tuple[tuple[object, ...], float]] = {}
        self._zones = ZoneGuard(settings.disruption)
        self._not_ready_since: dict[str, float] = {}

    def _lease(self, lease: Object) -> None:
        if lease["metadata"].get("namespace") == "kube-node-lease":
            self.queue.add(lease["metadata"]["name"])

    async def run(self) -> None:
        await run_tasks({f"{self.name}-base": super().run(),
                         f"{self.name}-monitor": self._monitor()})

    async def _monitor(self) -> None:
        """Look at every node periodically: silence produces no events; and at every
        node name pods are bound to but no Node has, since no event will ever say that
        a Node deleted while we were down is gone."""
        while True:
            await asyncio.sleep(self.settings.node_monitor_period)
            for key in self.nodes.keys():  # noqa: SIM118 - an Informer, not a dict
                self.queue.add(key)
            for name in self._missing_nodes():
                self.queue.add(name)

    def _missing_nodes(self) -> set[str]:
        if not (self.nodes.has_synced and self.pods.has_synced):
            return set()
        bound = {(p.get("spec") or {}).get("nodeName") or "" for p in self.pods.list()}
        return {name for name in bound - {""} if self.nodes.get(name) is None}

    def _last_seen(self, node: Object) -> float:
        name = node["metadata"]["name"]
        lease = self.leases.get(join_key("kube-node-lease", name))
        ready = get_condition(node, "Ready") or {}
        signature = ((lease or {}).get("spec", {}).get("renewTime"),
                     ready.get("lastHeartbeatTime"), ready.get("status"))
        now = time.monotonic()
        seen = self._seen.get(name)
        if seen is None or seen[0] != signature:
            self._seen[name] = (signature, now)
            return now
        return seen[1]

    async def sync(self, item: Hashable) -> None:
        key = str(item)  # "namespace/name" (or "name")
        node = self.nodes.get(key)
        if node is None:
            self._seen.pop(key, None)
            self._not_ready_since.pop(key, None)
            await self._collect_orphans(key)
            return
        node = copy.deepcopy(node)
        silent_for = time.monotonic() - self._last_seen(node)
        grace = self.settings.node_monitor_grace_period
        ready = get_condition(node, "Ready") or {}
        if silent_for > grace and ready.get("status") != "Unknown":
            node = await self._mark_unknown(node)
            if node is None:
                return
        elif silent_for <= grace:
            self.queue.add_after(key, grace - silent_for + 0.5)
        self._observe_zones(node)
        node = await self._sync_taints(node)
        if node is None:
            return
        if (get_condition(node, "Ready") or {}).get("status") != "True":
            await self._mark_pods_not_ready(key)
        await self._evict(node)

    async def _collect_orphans(self, node_name: str) -> None:
        """Pods bound to a Node that no longer exists have no agent to finish
        them: delete them at once (Kubernetes' pod GC, gcOrphaned). The Node's absence
        is confirmed with the API first: our cache may not have seen a new Node yet."""
        pods = self.pods.by_index("node", node_name)
        if not pods:
            return
        try:
            await self.client.get(NODES, node_name)
            return
        except NotFound:
            pass
        for pod in pods:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, meta["name"], meta["namespace"],
                                         grace_period_seconds=0)
            except NotFound:
                continue
            log.info("deleted pod of a deleted node pod=%s/%s node=%s", meta["namespace"],
                     meta["name"], node_name)

    async def _mark_unknown(self, node: Object) -> Object | None:
        status = node.setdefault("status", {})
        for type_ in NODE_CONDITIONS:
            set_condition(status, {"type": type_, "status": "Unknown",
                                   "reason": "NodeStatusUnknown",
                                   "message": "Kubelet stopped posting node status."})
        try:
            updated = await self.client.update(NODES, node, subresource="status")
        except NotFound:
            return None
        except Conflict:
            self.queue.add_after(node["metadata"]["name"], 0.2)
            return None
        log.info("node stopped reporting node=%s", node["metadata"]["name"])
        await self.recorder.event(updated, "Normal", "NodeNotReady",
                                  f"Node {node['metadata']['name']} status is now: NodeNotReady")
        return updated

    def _observe_zones(self, node: Object) -> None:
        """Recompute the zones' states with this node as just written; entering or
        leaving "all zones fully disrupted" looks at every node again (to drop or
        restore NoExecute taints), and leaving it restarts every node's grace period,
        as the node controller resets its probe timestamps."""
        name = node["metadata"]["name"]
        nodes = [n for n in self.nodes.list() if n["metadata"]["name"] != name] + [node]
        now_all, before = self._zones.observe(nodes)
        if now_all == before:
            return
        if now_all:
            log.warning("all nodes are not ready: entering full disruption mode, "
                        "evictions stop zones=%s", sorted(self._zones.states))
        else:
            log.warning("some nodes are ready again: leaving full disruption mode")
            now = time.monotonic()
            self._seen = {k: (sig, now) for k, (sig, _) in self._seen.items()}
        for n in nodes:
            if n["metadata"]["name"] != name:
                self.queue.add(n["metadata"]["name"])

    def _may_taint_no_execute(self, node: Object) -> bool:
        """A node that already has one of our NoExecute taints keeps it (swapping
        not-ready and unreachable is no new eviction); a new one takes the zone's token."""
        if self._zones.all_disrupted():
            return False
        if any(t.get("key") in (UNREACHABLE, NOT_READY) and t.get("effect") == "NoExecute"
               for t in (node.get("spec") or {}).get("taints") or []):
            return True
        name = node["metadata"]["name"]
        if (get_condition(node, "Ready") or {}).get("status") in (None, "True"):
            self._not_ready_since.pop(name, None)
            return True  # no NoExecute taint wanted: nothing to rate
        # Nodes that fail together are noticed one by one: wait one monitor period so the
        # zone's state counts them all, as the node controller's monitor pass does.
        since = self._not_ready_since.setdefault(name, time.monotonic())
        settle = since + self.settings.node_monitor_period - time.monotonic()
        if settle > 0:
            self.queue.add_after(name, settle + 0.1)
            return False
        wait = self._zones.take(zone_of(node))
        if wait is None:
            return True
        if wait != float("inf"):
            self.queue.add_after(name, wait + 0.1)
        return False  # a zone rate of 0: the monitor's next look tries again

    async def _sync_taints(self, node: Object) -> Object | None:
        taints = desired_taints(node, now_rfc3339(), no_execute=self._may_taint_no_execute(node))
        if taints == ((node.get("spec") or {}).get("taints") or []):
            return node
        node.setdefault("spec", {})["taints"] = taints
        try:
            return await self.client.update(NODES, node)
        except NotFound:
            return None
        except Conflict:
            self.queue.add_after(node["metadata"]["name"], 0.2)
            return None

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods.by_index("node", node_name):
            if not is_ready(pod):
                continue
            status = {"conditions": copy.deepcopy((pod.get("status") or {}).get("conditions")
                                                  or [])}
            set_condition(status, {"type": "Ready", "status": "False",
                                   "reason": "NodeNotReady", "message": "Node is not ready"})
            meta = pod["metadata"]
            try:
                await self.client.patch(PODS, meta["name"], {"status": status},
                                        meta["namespace"], patch_type="merge",
                                        subresource="status")
            except ClientError as e:
                log.info("cannot mark pod not ready pod=%s/%s error=%r", meta["namespace"],
                         meta["name"], e)

    async def _evict(self, node: Object) -> None:
        no_execute = [t for t in (node.get("spec") or {}).get("taints") or []
                      if t.get("effect") == "NoExecute"]
        if not no_execute:
            return
        now = time.time()
        added = min(parse_time(t.get("timeAdded")) or now for t in no_execute)
        next_check: float | None = None
        for pod in self.pods.by_index("node", node["metadata"]["name"]):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            tolerations = effective_tolerations(
                (pod.get("spec") or {}).get("tolerations") or [],
                self.settings.pod_eviction_timeout)
            seconds = toleration_seconds(no_execute, tolerations)
            if seconds is None:
                continue
            due = added + seconds
            if due <= now:
                await self._delete_pod(pod)
            else:
                next_check = due if next_check is None else min(next_check, due)
        if next_check is not None:
            self.queue.add_after(node["metadata"]["name"], next_check - now + 0.1)

    async def _delete_pod(self, pod: Object) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta["name"], meta["namespace"])
        except NotFound:
            return
        await self.recorder.event(pod, "Normal", "TaintManagerEviction",
                                  f"Marking for deletion Pod {meta['namespace']}/{meta['name']}")
