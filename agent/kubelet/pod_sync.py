"""One pod's reconcile: make Docker match the pod spec, then say what is there.

`sync(pod)` acts (sandbox, init containers in order, app containers, restarts under
the restart policy and crash-loop back-off) and then observes again to build the
status, so the status always describes Docker, not our intentions. `teardown` is the
graceful end of a pod (preStop, SIGTERM, grace period, SIGKILL, CNI DEL, removal) and
is idempotent, so a restarted agent can simply run it again. Observing (listing,
inspecting, building the status) is observe.PodObserver's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from agent.kubelet import labels as L
from agent.kubelet.backoff import Backoff
from agent.kubelet.dns import PodDNS
from agent.kubelet.env import container_env
from agent.kubelet.errors import (
    CNIError,
    ContainerConfigError,
    ContainerNotFound,
    ImageError,
    RuntimeConflict,
    RuntimeRequestError,
)
from agent.kubelet.images import ensure_image
from agent.kubelet.kernel_oom import KernelOomLog
from agent.kubelet.labels import Observed
from agent.kubelet.observe import PodObserver, group
from agent.kubelet.probes import EventSink, Probes, log_event
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.sandbox import SandboxError, Sandboxes
from agent.kubelet.source import ObjectSource
from agent.kubelet.spec import container_args, run_as_non_root_problem
from agent.kubelet.status import docker_epoch, terminated
from agent.kubelet.volumes import VolumeManager
from minikube_py.api.types import ContainerStateTerminated, PodStatus

log = logging.getLogger(__name__)

VOLUME_REFRESH_SECONDS = 60.0
MOUNT_RETRY_INITIAL, MOUNT_RETRY_MAX = 0.5, 122.0
TERMINATION_LOG = "/dev/termination-log"


@dataclass
class SyncResult:
    status: PodStatus | None
    requeue_after: float | None = None


class PodSyncer:
    """Everything the kubelet does to one pod, given Docker, CNI and volumes."""

    def __init__(self, *, runtime: DockerRuntime, sandboxes: Sandboxes, volumes: VolumeManager,
                 source: ObjectSource, node: str, host_ip: str, probes: Probes | None = None,
                 events: EventSink = log_event, backoff: Backoff | None = None,
                 dns: PodDNS | None = None, kernel_oom: KernelOomLog | None = None) -> None:
        self.runtime, self.sandboxes, self.volumes, self.source = runtime, sandboxes, volumes, source
        self.dns = dns or PodDNS()
        self.node, self.host_ip, self.events = node, host_ip, events
        self.probes = probes or Probes(runtime, events=events)
        self.backoff = backoff or Backoff()
        self.observer = PodObserver(runtime=runtime, volumes=volumes, probes=self.probes,
                                    node=node, host_ip=host_ip, kernel_oom=kernel_oom)
        self._volumes: dict[str, tuple[float, dict[str, str]]] = {}  # uid -> (when, paths)
        # Failed volume setups retry after 0.5 s doubling to 2m2s, as kubelet's operation
        # executor (an NFS server that is down is not asked twice a second for minutes).
        self.mount_backoff = Backoff(MOUNT_RETRY_INITIAL, MOUNT_RETRY_MAX)
        self._mount_errors: dict[str, str] = {}  # uid -> the last FailedMount message

    async def observed(self, uid: str | None = None, *, namespace: str = "",
                       name: str = "") -> list[Observed]:
        """This node's containers: all, one pod's (uid), or every pod's of that name."""
        return await self.observer.observed(uid, namespace=namespace, name=name)

    async def _deadline_exceeded(self, pod: dict[str, Any], obs: list[Observed]) -> SyncResult:
        """activeDeadlineSeconds is over: stop everything, the pod is Failed."""
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", L.DEFAULT_GRACE))
        return await self.fail(pod, obs, "DeadlineExceeded",
                               "Pod was active on the node longer than the specified deadline",
                               grace=grace, event_type="Normal")

    async def fail(self, pod: dict[str, Any], obs: list[Observed], reason: str, message: str,
                   *, grace: int, event_type: str = "Warning") -> SyncResult:
        """End the pod for a pod-level reason (a deadline, an eviction): stop its containers
        within `grace`, record the event; the status says Failed with reason and message."""
        await asyncio.gather(*(self.runtime.stop(o.id, grace) for o in obs
                               if o.running and o.kind != L.SANDBOX))
        await self.events(pod, event_type, reason, message)
        obs = await self.observed(pod["metadata"]["uid"])
        return SyncResult(await self.observer.status(pod, obs, _ips_of(pod), {},
                                                     failure=(reason, message)))

    async def _volume_paths(self, pod: dict[str, Any], pod_ip: str) -> dict[str, str]:
        """Volumes are (re)written at most once a minute per pod, like kubelet's periodic
        configMap/secret refresh; a resync in between costs no API calls."""
        uid = pod["metadata"]["uid"]
        cached = self._volumes.get(uid)
        now = time.monotonic()
        if cached is not None and now - cached[0] < VOLUME_REFRESH_SECONDS:
            return cached[1]
        paths = await self.volumes.prepare(pod, pod_ip=pod_ip, host_ip=self.host_ip)
        self._volumes[uid] = (now, paths)
        return paths

    async def sync(self, pod: dict[str, Any], obs: list[Observed] | None = None) -> SyncResult:
        """Act on one pod, then observe it again for its status; `obs` is what the caller
        just listed for this pod (saves a `docker ps`)."""
        uid = pod["metadata"]["uid"]
        if obs is None:
            obs = await self.observed(uid)
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            await self._stop_terminal(obs)
            return SyncResult(None)
        waiting: dict[str, tuple[str, str]] = {}
        requeue: list[float] = []
        left = _deadline_left(pod)
        if left is not None and left <= 0:
            return await self._deadline_exceeded(pod, obs)
        if left is not None:
            requeue.append(left)
        try:
            sandbox_id, ips = await self.sandboxes.ensure(pod, obs)
        except (SandboxError, CNIError) as e:
            await self.events(pod, "Warning", "FailedCreatePodSandBox", str(e))
            return SyncResult(await self.observer.status(pod, [], [], waiting), requeue_after=5.0)
        for o in obs:
            if o.kind != L.SANDBOX and o.running and o.sandbox_id != sandbox_id:
                await self.runtime.kill(o.id)  # it lives in a sandbox that is gone
        ctx = _Ctx(pod, sandbox_id, ips[0] if ips else "", group(obs))
        mount_key = f"{uid}/volumes"
        try:
            mount_wait = self.mount_backoff.remaining(mount_key)
            if mount_wait > 0:
                raise ContainerConfigError(self._mount_errors.get(uid, "waiting to mount"))
            ctx.volume_paths = await self._volume_paths(pod, ctx.pod_ip)
        except ContainerConfigError as e:
            if mount_wait <= 0:
                self.mount_backoff.next(mount_key)
                self._mount_errors[uid] = str(e)
                await self.events(pod, "Warning", "FailedMount", str(e))
            for c in _all_containers(pod):
                waiting[c["name"]] = ("ContainerCreating", str(e))
            return SyncResult(await self.observer.status(pod, obs, ips, waiting),
                              requeue_after=max(self.mount_backoff.remaining(mount_key), 0.1))
        self._mount_errors.pop(uid, None)
        acted = False
        if await self._sync_init(ctx, waiting, requeue):
            acted = True
        if not ctx.init_pending:
            acted = await self._sync_app(ctx, waiting, requeue) or acted
        else:
            for c in pod["spec"]["containers"]:
                waiting[c["name"]] = ("PodInitializing", "")
        if acted:
            obs = await self.observed(uid)
        status = await self.observer.status(pod, obs, ips, waiting)
        return SyncResult(status, min(requeue) if requeue else None)

    async def _sync_init(self, ctx: _Ctx, waiting: dict[str, tuple[str, str]],
                         requeue: list[float]) -> bool:
        """Run init containers one at a time, in order; True if something was started."""
        policy = ctx.pod["spec"].get("restartPolicy", "Always")
        inits = ctx.pod["spec"].get("initContainers") or []
        for i, c in enumerate(inits):
            insts = ctx.groups.get((L.INIT, c["name"]), [])
            cur = insts[0] if insts else None
            if cur is not None and cur.sandbox_id == ctx.sandbox_id:
                ins = await self.observer.inspect(cur.id)
                term = terminated(ins) if ins else None
                if ins is not None and term is None:
                    ctx.init_pending = True
                    _rest_initializing(inits[i + 1:], waiting)
                    return await self._start_created(ctx.pod, c, ins)
                if term is not None and term["exitCode"] == 0:
                    continue
                ctx.init_pending = True
                _rest_initializing(inits[i + 1:], waiting)
                if policy == "Never":
                    return False
                return await self._restart(ctx, c, L.INIT, cur, term, waiting, requeue)
            ctx.init_pending = True
            _rest_initializing(inits[i + 1:], waiting)
            attempt = cur.restart_count + 1 if cur else 0
            return await self._start(ctx, c, L.INIT, attempt, waiting, requeue, insts)
        return False

    async def _sync_app(self, ctx: _Ctx, waiting: dict[str, tuple[str, str]],
                        requeue: list[float]) -> bool:
        policy = ctx.pod["spec"].get("restartPolicy", "Always")
        acted = False
        for c in ctx.pod["spec"]["containers"]:
            insts = ctx.groups.get((L.APP, c["name"]), [])
            cur = insts[0] if insts else None
            if cur is None or cur.sandbox_id != ctx.sandbox_id:
                attempt = cur.restart_count + 1 if cur else 0
                acted = await self._start(ctx, c, L.APP, attempt, waiting, requeue, insts) or acted
                continue
            ins = await self.observer.inspect(cur.id)
            term = terminated(ins) if ins else None
            if ins is not None and term is None:
                if cur.spec_hash and cur.spec_hash != L.spec_hash(c):
                    acted = await self._replace(ctx, c, cur, waiting, requeue, insts) or acted
                elif ins["State"].get("Running"):
                    self.probes.ensure(ctx.pod, c, cur.id, ctx.pod_ip)
                else:
                    acted = await self._start_created(ctx.pod, c, ins) or acted
                continue
            if term is None:  # removed behind our back
                acted = await self._start(ctx, c, L.APP, cur.restart_count + 1, waiting, requeue,
                                          insts) or acted
                continue
            self.probes.forget(cur.id)
            if policy == "Always" or (policy == "OnFailure" and term["exitCode"] != 0):
                acted = await self._restart(ctx, c, L.APP, cur, term, waiting, requeue) or acted
        return acted

    async def _post_start(self, pod: dict[str, Any], c: dict[str, Any], cid: str) -> None:
        """postStart exec hook; a failing hook kills the container (restart policy applies)."""
        hook = ((c.get("lifecycle") or {}).get("postStart") or {}).get("exec")
        if not hook:
            return
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", L.DEFAULT_GRACE))
        try:
            code, out = await self.runtime.exec_run(cid, hook["command"], timeout=grace or None)
            error = f"exited with {code}: {out.decode(errors='replace').strip()}" if code else ""
        except (TimeoutError, RuntimeRequestError, ContainerNotFound) as e:
            error = str(e) or type(e).__name__
        if error:
            await self.events(pod, "Warning", "FailedPostStartHook",
                              f"PostStartHook failed for container {c['name']}: {error}")
            await self.runtime.kill(cid)

    async def _start_created(self, pod: dict[str, Any], c: dict[str, Any],
                             ins: dict[str, Any]) -> bool:
        """A container created but never started (the agent died in between): start it."""
        if ins["State"].get("Status") != "created":
            return False
        try:
            await self.runtime.start(ins["Id"])
        except RuntimeRequestError as e:  # now it carries State.Error: status shows it
            await self.events(pod, "Warning", "Failed", f"Error: {e.explanation or e}")
        return True

    async def _replace(self, ctx: _Ctx, c: dict[str, Any], cur: Observed,
                       waiting: dict[str, tuple[str, str]], requeue: list[float],
                       insts: list[Observed]) -> bool:
        """The container's spec changed (a new image): stop it and start the new one now,
        whatever the restart policy."""
        await self.events(ctx.pod, "Normal", "Killing",
                          f"Container {c['name']} definition changed, will be restarted")
        self.probes.forget(cur.id)
        await self.runtime.stop(cur.id, int(ctx.pod["spec"].get("terminationGracePeriodSeconds",
                                                                  30)))
        return await self._start(ctx, c, L.APP, cur.restart_count + 1, waiting, requeue, insts)

    async def _restart(self, ctx: _Ctx, c: dict[str, Any], kind: str, cur: Observed,
                       term: ContainerStateTerminated | None,
                       waiting: dict[str, tuple[str, str]],
                       requeue: list[float]) -> bool:
        """Restart a dead container unless it is in crash-loop back-off."""
        key = f"{ctx.pod['metadata']['uid']}/{c['name']}"
        finished = docker_epoch(term.get("finishedAt")) if term else None
        left = self.backoff.remaining(key, finished)
        if left > 0:
            meta = ctx.pod["metadata"]
            entry = self.backoff.delay(key)
            message = (f"back-off {entry:g}s restarting failed container={c['name']} "
                       f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")
            waiting[c["name"]] = ("CrashLoopBackOff", message)
            await self.events(ctx.pod, "Warning", "BackOff",
                              f"Back-off restarting failed container {c['name']} in pod "
                              f"{meta['name']}_{meta['namespace']}({meta['uid']})")
            requeue.append(left)
            return False
        self.backoff.next(key)
        insts = ctx.groups.get((kind, c["name"]), [])
        return await self._start(ctx, c, kind, cur.restart_count + 1, waiting, requeue, insts)

    async def _start(self, ctx: _Ctx, c: dict[str, Any], kind: str, attempt: int,
                     waiting: dict[str, tuple[str, str]], requeue: list[float],
                     older: list[Observed]) -> bool:
        """Create and start one container instance; failures become waiting reasons."""
        pod, name = ctx.pod, c["name"]
        pull_key = f"{pod['metadata']['uid']}/{name}/pull"
        if self.backoff.remaining(pull_key) > 0:
            waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{c["image"]}"')
            requeue.append(self.backoff.remaining(pull_key))
            return False
        try:
            await ensure_image(self.runtime, c)
        except ImageError as e:
            if e.reason == "ErrImagePull":
                self.backoff.next(pull_key)
            await self.events(pod, "Warning", "Failed", e.message)
            waiting[name] = (e.reason, e.message)
            requeue.append(max(self.backoff.remaining(pull_key), 1.0))
            return False
        try:
            image = await self.runtime.image_inspect(c["image"])
            problem = run_as_non_root_problem(pod, c, str(((image or {}).get("Config") or {})
                                                          .get("User") or ""))
            if problem:
                raise ContainerConfigError(problem)
            env = await container_env(pod, c, self.source, pod_ip=ctx.pod_ip, host_ip=self.host_ip)
            binds = self.volumes.binds(pod, c, ctx.volume_paths, env)
            hosts = self.volumes.etc_hosts(pod, ctx.pod_ip)
            if hosts:
                binds.append(f"{hosts}:/etc/hosts:ro")
            resolv = self.volumes.pod_file(pod["metadata"]["uid"], "resolv.conf",
                                           self.dns.resolv_conf(pod))
            binds.append(f"{resolv}:/etc/resolv.conf")
            log_path = self.volumes.new_termination_log(pod["metadata"]["uid"], name, attempt)
            binds.append(f"{log_path}:{c.get('terminationMessagePath', TERMINATION_LOG)}")
        except ContainerConfigError as e:
            await self.events(pod, "Warning", "Failed", f"Error: {e}")
            waiting[name] = ("CreateContainerConfigError", str(e))
            requeue.append(5.0)
            return False
        for old in older[1:]:  # keep the newest dead instance for `logs --previous`
            await self.runtime.remove(old.id)
            self.observer.forget(old.id)
        args = container_args(pod, c, image=c["image"], name=L.docker_name(pod, name, attempt),
                              labels=L.for_container(pod, self.node, kind=kind, name=name,
                                                     restart_count=attempt,
                                                     sandbox_id=ctx.sandbox_id, spec=c),
                              sandbox_id=ctx.sandbox_id, env=env, binds=binds)
        try:
            cid = await self.runtime.create(image=args.image, name=args.name, labels=args.labels,
                                            host_config=args.host_config, **args.config)
        except RuntimeConflict:  # the name exists: someone made this attempt already
            return True
        except RuntimeRequestError as e:
            waiting[name] = ("CreateContainerError", str(e.explanation or e))
            requeue.append(5.0)
            return False
        try:
            await self.runtime.start(cid)
        except RuntimeRequestError as e:
            # The container stays 'created' with State.Error: the status shows it terminated.
            await self.events(pod, "Warning", "Failed", f"Error: {e.explanation or e}")
            return True
        await self.events(pod, "Normal", "Started", f"Started container {name}")
        await self._post_start(pod, c, cid)
        return True

    async def _stop_terminal(self, obs: list[Observed]) -> None:
        """A finished pod keeps its dead containers (for logs) but not its sandbox or IP."""
        for o in obs:
            if o.kind == L.SANDBOX:
                await self.sandboxes.teardown(o)
            elif o.running:
                await self.runtime.kill(o.id)

    async def teardown(self, uid: str, grace: int, pod: dict[str, Any] | None = None) -> None:
        """The graceful end of a pod: preStop, SIGTERM, wait, SIGKILL, CNI DEL, remove."""
        if not uid:
            raise ValueError("teardown needs a pod UID")  # an empty one would match every pod
        obs = await self.observed(uid)
        specs = {c["name"]: c for c in _all_containers(pod)} if pod else {}
        workers = [o for o in obs if o.kind != L.SANDBOX]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace

        async def stop(o: Observed) -> None:
            if not o.running:
                return
            hook = ((specs.get(o.name) or {}).get("lifecycle") or {}).get("preStop") or {}
            if "exec" in hook and grace > 0:
                try:
                    await self.runtime.exec_run(o.id, hook["exec"]["command"], timeout=grace)
                except (TimeoutError, RuntimeRequestError, ContainerNotFound) as e:
                    log.info("preStop failed container=%s err=%s", o.id[:12], e)
            left = max(0, int(deadline - loop.time() + 0.999))
            await self.runtime.stop(o.id, timeout=left)

        await asyncio.gather(*(stop(o) for o in workers))
        for o in workers:
            self.probes.forget(o.id)
            await self.runtime.remove(o.id)
            self.observer.forget(o.id)
        for o in obs:
            if o.kind == L.SANDBOX:
                await self.sandboxes.teardown(o)
        await self.volumes.cleanup(uid)
        self._volumes.pop(uid, None)
        self.backoff.forget_prefix(f"{uid}/")
        self.mount_backoff.forget_prefix(f"{uid}/")
        self._mount_errors.pop(uid, None)

@dataclass
class _Ctx:
    pod: dict[str, Any]
    sandbox_id: str
    pod_ip: str
    groups: dict[tuple[str, str], list[Observed]]
    volume_paths: dict[str, str] = field(default_factory=dict)
    init_pending: bool = False


def _deadline_left(pod: dict[str, Any]) -> float | None:
    """Seconds until activeDeadlineSeconds runs out (counted from status.startTime)."""
    deadline = pod["spec"].get("activeDeadlineSeconds")
    started = docker_epoch((pod.get("status") or {}).get("startTime"))
    if deadline is None or started is None:
        return None
    return started + int(deadline) - time.time()


def _ips_of(pod: dict[str, Any]) -> list[str]:
    return [p["ip"] for p in (pod.get("status") or {}).get("podIPs") or []]


def _all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod["spec"].get("initContainers") or []) + list(pod["spec"]["containers"])


def _rest_initializing(rest: list[dict[str, Any]], waiting: dict[str, tuple[str, str]]) -> None:
    for c in rest:
        waiting.setdefault(c["name"], ("PodInitializing", ""))
