"""What Docker holds for a pod, and the pod status that says so.

Split from pod_sync (which acts) so the status always comes from observation:
containers are listed by this node's labels, inspected (exited ones are cached,
since a dead container never changes), and turned into a PodStatus.
"""

from __future__ import annotations

from typing import Any, cast

from agent.kubelet import labels as L
from agent.kubelet.errors import ContainerNotFound
from agent.kubelet.kernel_oom import KernelOomLog
from agent.kubelet.labels import Observed
from agent.kubelet.probes import Probes
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.status import TERMINATION_MESSAGE, ContainerView, pod_status, terminated
from agent.kubelet.volumes import VolumeManager
from minikube_py.api.types import PodStatus

MAX_FALLBACK_BYTES = 2048


class PodObserver:
    """Lists, inspects and describes one node's pod containers."""

    def __init__(self, *, runtime: DockerRuntime, volumes: VolumeManager, probes: Probes,
                 node: str, host_ip: str, kernel_oom: KernelOomLog | None = None) -> None:
        self.runtime, self.volumes, self.probes = runtime, volumes, probes
        self.kernel_oom = kernel_oom
        self.node, self.host_ip = node, host_ip
        self._dead: dict[str, dict[str, Any]] = {}  # inspect of exited containers: immutable

    async def observed(self, uid: str | None = None, *, namespace: str = "",
                       name: str = "") -> list[Observed]:
        """This node's containers: all, one pod's (uid), or every pod's of that name."""
        want = {L.NODE: self.node}
        if uid:
            want[L.POD_UID] = uid
        if name:
            want.update({L.POD_NAMESPACE: namespace, L.POD_NAME: name})
        return [Observed.from_summary(s) for s in await self.runtime.list_containers(want)]

    async def inspect(self, cid: str) -> dict[str, Any] | None:
        if cid in self._dead:
            return self._dead[cid]
        try:
            ins = await self.runtime.inspect(cid)
        except ContainerNotFound:
            return None
        if terminated(ins) is not None:
            await self._note_kernel_oom(ins)
            message = await self._termination_message(ins)
            if message:
                ins[TERMINATION_MESSAGE] = message
            self._dead[cid] = ins
        return ins

    async def _note_kernel_oom(self, ins: dict[str, Any]) -> None:
        """A SIGKILLed container Docker does not call OOMKilled is looked up in the kernel's
        OOM records (containerd's watcher can be missing: kernel_oom.py says when); with
        no kernel log given (a PodSyncer outside the kubelet) Docker's word stands."""
        st = ins["State"]
        if self.kernel_oom is None or st.get("OOMKilled") or st.get("ExitCode") != 137:
            return
        if await self.kernel_oom.oom_killed(ins["Id"]):
            st["OOMKilled"] = True

    async def _termination_message(self, ins: dict[str, Any]) -> str:
        """What the container wrote to its terminationMessagePath, or, with
        FallbackToLogsOnError and a failure, the tail of its log (kubelet's limits)."""
        labels = ins["Config"].get("Labels") or {}
        if L.RESTART_COUNT not in labels or L.POD_UID not in labels:
            return ""
        message = self.volumes.termination_message(
            labels[L.POD_UID], labels.get(L.CONTAINER_NAME, ""), int(labels[L.RESTART_COUNT]))
        if not message and labels.get(L.TERMINATION_POLICY) == "FallbackToLogsOnError" and \
                ins["State"].get("ExitCode"):
            # logs() without stream=True returns bytes; types-docker declares bytes | a stream
            tail = cast(bytes, await self.runtime.call(self.runtime.api.logs, ins["Id"], tail=80))
            message = tail[-MAX_FALLBACK_BYTES:].decode(errors="replace")
        return message

    def forget(self, cid: str) -> None:
        """The container was removed: drop its cached inspect."""
        self._dead.pop(cid, None)

    async def status(self, pod: dict[str, Any], obs: list[Observed], ips: list[str],
                     waiting: dict[str, tuple[str, str]],
                     failure: tuple[str, str] = ("", "")) -> PodStatus:
        """The pod's status as Docker shows it (newest instance = current, the one
        before = lastState), with probe results and `waiting` reasons for containers
        we could not start."""
        groups = group(obs)

        async def views(kind: str, specs: list[dict[str, Any]]) -> list[ContainerView]:
            out = []
            for c in specs:
                insts = groups.get((kind, c["name"]), [])
                v = ContainerView(name=c["name"], image=c["image"],
                                  restart_count=insts[0].restart_count if insts else 0,
                                  waiting=waiting.get(c["name"]))
                if insts:
                    v.current = await self.inspect(insts[0].id)
                    v.ready = self.probes.ready(insts[0].id, c)
                    v.started = self.probes.started(insts[0].id, c)
                if len(insts) > 1:
                    v.previous = await self.inspect(insts[1].id)
                out.append(v)
            return out

        return pod_status(pod, init=await views(L.INIT, pod["spec"].get("initContainers") or []),
                          app=await views(L.APP, pod["spec"]["containers"]), pod_ips=ips,
                          host_ip=self.host_ip, reason=failure[0], message=failure[1])


def group(obs: list[Observed]) -> dict[tuple[str, str], list[Observed]]:
    """(kind, container name) -> instances, newest attempt first."""
    groups: dict[tuple[str, str], list[Observed]] = {}
    for o in obs:
        groups.setdefault((o.kind, o.name), []).append(o)
    for insts in groups.values():
        insts.sort(key=lambda o: (o.restart_count, o.created), reverse=True)
    return groups
