"""Port forwarding over SPDY/3.1 (`portforward.k8s.io`), what `kubectl port-forward` speaks.

After the upgrade the client opens, for every local connection, two streams with the
same `requestID` header and the remote `port`: `error` (we write a message there if
the forward fails, then finish it) and `data` (bytes both ways), dialled to localhost:port
inside the pod's network namespace (poddial.py). A WebSocket instead of the SPDY upgrade is
the channel protocol of portforward_ws.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent.kubelet import poddial, portforward_ws, spdy
from agent.kubelet.poddial import Sandbox
from agent.kubelet.runtime import DockerRuntime
from minikube_py.api.portforward import kubelet_ports
from minikube_py.client.tasks import log_failure

log = logging.getLogger(__name__)

PROTOCOLS = ("portforward.k8s.io",)


def _port(stream: spdy.Stream) -> int | None:
    raw = (stream.headers.get("port") or [""])[0]
    return int(raw) if raw.isdigit() and 0 < int(raw) < 65536 else None


async def forward(sandbox: Sandbox, data: spdy.Stream, error: spdy.Stream) -> None:
    """One client connection: its data stream to the pod's port; a failure is written on
    its error stream, as the kubelet reports it."""
    port = _port(data)
    try:
        if port is None:
            raise ValueError(f"invalid port {(data.headers.get('port') or [''])[0]!r}")
        await poddial.forward(sandbox.pid, port, data.read, data.write)
    except (OSError, ValueError) as e:
        log.info("port-forward failed pod=%s port=%s err=%s", sandbox.full_name, port, e)
        with contextlib.suppress(ConnectionError):
            await error.write(poddial.failure(port, sandbox, e))
    finally:
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
    """GET/POST /portForward/{namespace}/{pod}: a SPDY upgrade, or a WebSocket
    (portforward_ws.py)."""

    async def port_forward(request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if websocket:  # the kubelet checks the ports before looking for the pod
            try:
                ports = kubelet_ports(request.query.getall("port", []))
            except ValueError as e:
                raise web.HTTPBadRequest(text=str(e)) from None
        sandbox = await poddial.pod_sandbox(runtime, ns, pod)
        if sandbox is None:
            raise web.HTTPNotFound(text=f'pod "{pod}" has no running sandbox on this node')
        if websocket:
            return await portforward_ws.serve(request, sandbox, ports)
        conn, response, _ = await spdy.upgrade(request, PROTOCOLS)
        pending: dict[str, dict[str, spdy.Stream]] = {}
        tasks: set[asyncio.Task[None]] = set()
        try:
            while (stream := await conn.accept()) is not None:
                pair = pending.setdefault(_request_id(stream), {})
                pair[stream.type] = stream
                if {"data", "error"} <= pair.keys():
                    del pending[_request_id(stream)]
                    task = asyncio.create_task(forward(sandbox, pair["data"], pair["error"]),
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
