"""Port forwarding over SPDY/3.1 (`portforward.k8s.io`), what `kubectl port-forward` speaks.

After the upgrade the client opens, for every local connection, two streams with the
same `requestID` header and the remote `port`: `error` (we write a message there if
the forward fails, then finish it) and `data` (bytes both ways). Like the kubelet, we
connect to localhost:port inside the pod's network namespace, so a server listening
only on the pod's loopback is reachable too: setns changes the calling thread only,
so the dial runs on a thread of its own and the socket keeps the pod's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from agent.kubelet import labels as L
from agent.kubelet import spdy
from agent.kubelet.runtime import DockerRuntime
from cni_plugins import nsutil
from minikube_py.client.tasks import log_failure

log = logging.getLogger(__name__)

PROTOCOLS = ("portforward.k8s.io",)
DIAL_TIMEOUT = 10.0


def _dial(pid: int, port: int) -> socket.socket:
    with nsutil.entered(f"/proc/{pid}/ns/net"):
        return socket.create_connection(("127.0.0.1", port), timeout=DIAL_TIMEOUT)


async def dial(pid: int, port: int) -> socket.socket:
    """A TCP connection to localhost:`port` in the network namespace of process `pid`."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portforward-dial")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, _dial, pid, port)
    finally:
        pool.shutdown(wait=False)


async def sandbox_pid(runtime: DockerRuntime, namespace: str, pod: str) -> int | None:
    """The PID holding the pod's network namespace (its running sandbox), if any."""
    found = await runtime.list_containers({L.POD_NAMESPACE: namespace, L.POD_NAME: pod,
                                           L.KIND: L.SANDBOX})
    running = [c for c in found if c.get("State") == "running"]
    if not running:
        return None
    info = await runtime.inspect(max(running, key=lambda c: c.get("Created", 0))["Id"])
    return int(info.get("State", {}).get("Pid") or 0) or None


def _port(stream: spdy.Stream) -> int | None:
    raw = (stream.headers.get("port") or [""])[0]
    return int(raw) if raw.isdigit() and 0 < int(raw) < 65536 else None


async def forward(pid: int, pod: str, data: spdy.Stream, error: spdy.Stream) -> None:
    """One client connection: pod -> client until the pod closes, client -> pod beside it."""
    port = _port(data)
    try:
        if port is None:
            raise ValueError(f"invalid port {(data.headers.get('port') or [''])[0]!r}")
        reader, writer = await asyncio.open_connection(sock=await dial(pid, port))
    except (OSError, ValueError) as e:
        await error.write(f"error forwarding port {port} to pod {pod}: {e}".encode())
        error.finish()
        data.finish()
        return

    async def to_pod() -> None:
        while chunk := await data.read():
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # the client closed its side; the pod reads EOF
    upstream = asyncio.create_task(to_pod(), name=f"portforward-{pod}-{port}")
    try:
        while chunk := await reader.read(1 << 16):
            await data.write(chunk)
    except ConnectionError as e:
        log.info("port-forward connection ended pod=%s port=%s err=%r", pod, port, e)
    finally:
        upstream.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await upstream
        writer.close()
        data.finish()
        error.finish()


def _request_id(stream: spdy.Stream) -> str:
    """Pairs a data stream with its error stream; clients without requestID open the
    error stream right before the data stream (ids two apart), as the kubelet assumes."""
    rid = (stream.headers.get("requestid") or [""])[0]
    if rid:
        return rid
    return str(stream.id - 2 if stream.type == "data" else stream.id)


def handler(runtime: DockerRuntime) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """GET/POST /portForward/{namespace}/{pod}, SPDY upgrade."""

    async def port_forward(request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        pid = await sandbox_pid(runtime, ns, pod)
        if pid is None:
            raise web.HTTPNotFound(text=f'pod "{pod}" has no running sandbox on this node')
        conn, response, _ = await spdy.upgrade(request, PROTOCOLS)
        pending: dict[str, dict[str, spdy.Stream]] = {}
        tasks: set[asyncio.Task[None]] = set()
        try:
            while (stream := await conn.accept()) is not None:
                pair = pending.setdefault(_request_id(stream), {})
                pair[stream.type] = stream
                if {"data", "error"} <= pair.keys():
                    del pending[_request_id(stream)]
                    task = asyncio.create_task(forward(pid, pod, pair["data"], pair["error"]),
                                               name=f"portforward-{pod}")
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    task.add_done_callback(log_failure)
        finally:
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.close()
            if request.transport is not None:
                request.transport.close()
        return response
    return port_forward
