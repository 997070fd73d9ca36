"""Liveness, readiness and startup probes: one asyncio task per probe per container.

Results flip only after successThreshold successes / failureThreshold failures in a
row. Liveness and readiness wait for the startup probe; a failed liveness (or
startup) probe stops the container with its grace period, which the sync loop then
restarts under the restart policy. A change calls `on_change(pod key)` so the pod's
status is written at once rather than at the next resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from agent.kubelet.errors import ContainerNotFound, RuntimeRequestError, RuntimeUnavailable
from agent.kubelet.runtime import DockerRuntime
from minikube_py.api.meta import key as object_key
from minikube_py.client.tasks import log_failure

log = logging.getLogger(__name__)


EventSink = Callable[[dict[str, Any], str, str, str], Awaitable[None]]


async def log_event(pod: dict[str, Any], etype: str, reason: str, message: str) -> None:
    """The event sink without an API: events only go to the log."""
    log.info("event pod=%s/%s type=%s reason=%s message=%s", pod["metadata"]["namespace"],
             pod["metadata"]["name"], etype, reason, message)


@dataclass
class _Tracked:
    pod: dict[str, Any]
    key: str
    started: bool
    ready: bool
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"named port {port!r} not found")


class Probes:
    def __init__(self, runtime: DockerRuntime,
                 on_change: Callable[[str], None] = lambda key: None,
                 events: EventSink = log_event) -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.events = events
        self._tracked: dict[str, _Tracked] = {}
        self._http: aiohttp.ClientSession | None = None

    def ready(self, cid: str, container: dict[str, Any]) -> bool:
        t = self._tracked.get(cid)
        if "readinessProbe" not in container:
            return self.started(cid, container)
        return bool(t and t.ready)

    def started(self, cid: str, container: dict[str, Any]) -> bool:
        if "startupProbe" not in container:
            return True
        t = self._tracked.get(cid)
        return bool(t and t.started)

    def ensure(self, pod: dict[str, Any], container: dict[str, Any], cid: str,
               pod_ip: str) -> None:
        """Start the container's probe tasks once (the container is running)."""
        if cid in self._tracked:
            return
        t = _Tracked(pod=pod, key=object_key(pod),
                     started="startupProbe" not in container, ready=False)
        self._tracked[cid] = t
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if kind in container:
                task = asyncio.create_task(self._loop(kind, t, container, cid, pod_ip, grace),
                                           name=f"probe-{kind}-{cid[:12]}")
                task.add_done_callback(log_failure)
                t.tasks.append(task)

    def forget(self, cid: str) -> None:
        t = self._tracked.pop(cid, None)
        for task in t.tasks if t else []:
            task.cancel()

    async def close(self) -> None:
        for cid in list(self._tracked):
            self.forget(cid)
        if self._http is not None:
            await self._http.close()

    async def _loop(self, kind: str, t: _Tracked, container: dict[str, Any], cid: str,
                    pod_ip: str, grace: int) -> None:
        probe = container[kind]
        period = max(int(probe.get("periodSeconds", 10)), 1)
        ok_needed = max(int(probe.get("successThreshold", 1)), 1)
        fail_needed = max(int(probe.get("failureThreshold", 3)), 1)
        await asyncio.sleep(int(probe.get("initialDelaySeconds", 0)))
        while kind != "startupProbe" and not t.started:
            await asyncio.sleep(0.5)
        oks = fails = 0
        while True:
            ok = await self.run(probe, container, cid, pod_ip)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            if kind == "readinessProbe":
                value = t.ready
                if oks >= ok_needed:
                    value = True
                elif fails >= fail_needed:
                    value = False
                if value != t.ready:
                    t.ready = value
                    log.info("readiness changed container=%s ready=%s", cid[:12], value)
                    self.on_change(t.key)
            elif kind == "startupProbe" and ok:
                t.started = True
                self.on_change(t.key)
                return
            elif fails >= fail_needed:
                log.info("%s failed container=%s failures=%d: restarting", kind, cid[:12], fails)
                probe_name = kind.removesuffix("Probe").capitalize()
                await self.events(t.pod, "Warning", "Unhealthy", f"{probe_name} probe failed")
                await self.events(t.pod, "Normal", "Killing",
                                  f"Container {container['name']} failed {kind.removesuffix('Probe')}"
                                  " probe, will be restarted")
                await self.runtime.stop(cid, timeout=grace)
                self.on_change(t.key)
                return
            await asyncio.sleep(period)

    async def run(self, probe: dict[str, Any], container: dict[str, Any], cid: str,
                  pod_ip: str) -> bool:
        """One probe attempt: True on success. Errors of any kind count as failure."""
        timeout = max(float(probe.get("timeoutSeconds", 1)), 1.0)
        try:
            if "exec" in probe:
                code, _ = await self.runtime.exec_run(cid, probe["exec"]["command"], timeout)
                return code == 0
            if "tcpSocket" in probe:
                tcp = probe["tcpSocket"]
                host = tcp.get("host") or pod_ip
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, _port(container, tcp["port"])), timeout)
                writer.close()
                return True
            if "httpGet" in probe:
                return await self._http_get(probe["httpGet"], container, pod_ip, timeout)
        except (TimeoutError, OSError, ValueError, aiohttp.ClientError, RuntimeRequestError, ContainerNotFound, RuntimeUnavailable) as e:
            log.debug("probe failed container=%s err=%r", cid[:12], e)
            return False
        return True  # a probe kind we do not run (grpc) is not held against the container

    async def _http_get(self, get: dict[str, Any], container: dict[str, Any], pod_ip: str,
                        timeout: float) -> bool:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        scheme = str(get.get("scheme", "HTTP")).lower()
        host = get.get("host") or pod_ip
        url = f"{scheme}://{host}:{_port(container, get['port'])}{get.get('path', '/')}"
        headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
        headers.setdefault("User-Agent", "kube-probe/1.32")
        async with self._http.get(url, headers=headers, ssl=False, allow_redirects=False,
                                  timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return 200 <= resp.status < 400


