"""The pod sandbox: a pause container that holds the pod's network namespace.

It is created with Docker networking off and then wired by CNI through
/proc/<pid>/ns/net, as a CRI runtime does. Its CNI result (the pod IPs) is cached by
`CNI` under the sandbox ID, so an adopted sandbox needs no new ADD.
"""

from __future__ import annotations

import logging
from typing import Any

from agent.kubelet import labels as L
from agent.kubelet.cni import CNI, PodRef, load_network, pod_ips
from agent.kubelet.errors import CNIError, ContainerNotFound, KubeletError, RuntimeRequestError
from agent.kubelet.images import PAUSE_COMMAND, PAUSE_IMAGE
from agent.kubelet.labels import Observed
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.spec import sandbox_args

log = logging.getLogger(__name__)


class SandboxError(KubeletError):
    """The sandbox could not be made (Docker or CNI); the pod waits in ContainerCreating."""


def capabilities(pod: dict[str, Any]) -> dict[str, Any]:
    """CNI runtime capabilities of a pod: its hostPorts as portMappings."""
    mappings = [{"hostPort": int(p["hostPort"]), "containerPort": int(p["containerPort"]),
                 "protocol": str(p.get("protocol", "TCP")).lower(),
                 "hostIP": p.get("hostIP", "")}
                for c in pod["spec"].get("containers") or [] for p in c.get("ports") or []
                if p.get("hostPort")]
    return {"portMappings": mappings} if mappings else {}


class Sandboxes:
    def __init__(self, runtime: DockerRuntime, cni: CNI, node: str, host_ip: str,
                 image: str = PAUSE_IMAGE) -> None:
        self.runtime, self.cni, self.node, self.host_ip, self.image = (
            runtime, cni, node, host_ip, image)

    async def ensure(self, pod: dict[str, Any], observed: list[Observed]) -> tuple[str, list[str]]:
        """A running, wired sandbox for the pod: (sandbox ID, pod IPs). Old ones are torn down."""
        boxes = sorted((o for o in observed if o.kind == L.SANDBOX),
                       key=lambda o: (o.restart_count, o.created), reverse=True)
        host_net = bool(pod["spec"].get("hostNetwork"))
        if boxes and boxes[0].running:
            box = boxes[0]
            if host_net:
                return box.id, [self.host_ip]
            result = self.cni.cached_result(box.id)
            if result is None:
                result = await self._wire(pod, box.id)
            return box.id, pod_ips(result)
        if not host_net:
            load_network(self.cni.conf_dir)  # no network yet: fail before making a container
        for old in boxes:
            await self.teardown(old)
        attempt = boxes[0].restart_count + 1 if boxes else 0
        args = sandbox_args(pod, image=self.image, name=L.docker_name(pod, "POD", attempt),
                            labels=L.for_container(pod, self.node, kind=L.SANDBOX,
                                                   name=L.SANDBOX_CONTAINER_NAME,
                                                   restart_count=attempt),
                            command=PAUSE_COMMAND)
        try:
            sid = await self.runtime.create(image=args.image, name=args.name, labels=args.labels,
                                            host_config=args.host_config, **args.config)
            await self.runtime.start(sid)
        except RuntimeRequestError as e:
            raise SandboxError(f"failed to create pod sandbox: {e.explanation or e}") from e
        if host_net:
            return sid, [self.host_ip]
        try:
            result = await self._wire(pod, sid)
        except (CNIError, SandboxError):
            await self.runtime.remove(sid)
            raise
        log.info("sandbox ready pod=%s/%s sandbox=%s ips=%s", pod["metadata"]["namespace"],
                 pod["metadata"]["name"], sid[:12], pod_ips(result))
        return sid, pod_ips(result)

    async def _wire(self, pod: dict[str, Any], sid: str) -> dict[str, Any]:
        inspect = await self.runtime.inspect(sid)
        pid = inspect["State"].get("Pid") or 0
        if not pid:
            raise SandboxError(f"sandbox {sid[:12]} is not running")
        meta = pod["metadata"]
        return await self.cni.add(PodRef(meta["namespace"], meta["name"], sid),
                                  f"/proc/{pid}/ns/net", capabilities=capabilities(pod))

    async def teardown(self, box: Observed) -> None:
        """CNI DEL while the netns still exists, then remove the container; idempotent."""
        netns = ""
        try:
            inspect = await self.runtime.inspect(box.id)
            if inspect["State"].get("Pid"):
                netns = f"/proc/{inspect['State']['Pid']}/ns/net"
            host_net = inspect["HostConfig"].get("NetworkMode") == "host"
        except ContainerNotFound:
            host_net = False
        if not host_net:
            try:
                await self.cni.delete(PodRef(box.namespace, box.pod_name, box.id), netns)
            except CNIError as e:
                log.warning("cni del failed sandbox=%s err=%s", box.id[:12], e)
        await self.runtime.remove(box.id)
