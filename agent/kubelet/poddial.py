"""A TCP connection to a port inside a pod's network namespace, as the kubelet's
port-forward makes it, and the byte copy both port-forward protocols (SPDY streams,
WebSocket channels) run over it.

The dial goes to localhost, so a server listening only on the pod's loopback is reachable
too. setns changes the calling thread only, so the dial runs on a thread of its own and
the socket keeps the pod's namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from agent.kubelet import labels as L
from agent.kubelet.runtime import DockerRuntime
from cni_plugins import nsutil

DIAL_TIMEOUT = 10.0
CHUNK = 1 << 16


class Sandbox(NamedTuple):
    """What port-forward needs of a pod: the process holding its network namespace and
    its name and UID for error messages."""

    pid: int
    full_name: str  # name_namespace, the kubelet's GetPodFullName
    uid: str


def _dial(pid: int, port: int) -> socket.socket:
    try:
        with nsutil.entered(f"/proc/{pid}/ns/net"):
            return socket.create_connection(("127.0.0.1", port), timeout=DIAL_TIMEOUT)
    except OSError as e:  # worded as the CRI runtimes' port-forward reports it
        why = (e.strerror or str(e)).lower()
        raise OSError(f'failed to connect to localhost:{port} inside namespace '
                      f'"/proc/{pid}/ns/net", IPv4: dial tcp4 127.0.0.1:{port}: connect: {why}'
                      ) from None


async def dial(pid: int, port: int) -> socket.socket:
    """A TCP connection to localhost:`port` in the network namespace of process `pid`."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portforward-dial")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, _dial, pid, port)
    finally:
        pool.shutdown(wait=False)


async def forward(pid: int, port: int, read: Callable[[], Awaitable[bytes]],
                  write: Callable[[bytes], Awaitable[None]]) -> None:
    """Dial `port` in the pod (OSError if that fails), then copy the client's bytes
    (`read` until b"") to the pod beside the pod's bytes to `write`, until the pod closes
    its side. The client's end is an EOF for the pod, which may still answer."""
    reader, writer = await asyncio.open_connection(sock=await dial(pid, port))

    async def to_pod() -> None:
        while chunk := await read():
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    upstream = asyncio.create_task(to_pod(), name=f"portforward-to-pod-{port}")
    try:
        while chunk := await reader.read(CHUNK):
            await write(chunk)
    finally:
        upstream.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await upstream
        writer.close()


def failure(port: int | None, sandbox: Sandbox, error: Exception) -> bytes:
    """The message the kubelet writes on a port's error stream/channel."""
    return (f"error forwarding port {port} to pod {sandbox.full_name}, uid {sandbox.uid}: "
            f"{error}").encode()


async def pod_sandbox(runtime: DockerRuntime, namespace: str, pod: str) -> Sandbox | None:
    """The pod's running sandbox (the newest if there are several), if any."""
    found = await runtime.list_containers({L.POD_NAMESPACE: namespace, L.POD_NAME: pod,
                                           L.KIND: L.SANDBOX})
    running = [c for c in found if c.get("State") == "running"]
    if not running:
        return None
    newest = max(running, key=lambda c: c.get("Created", 0))
    info = await runtime.inspect(newest["Id"])
    pid = int(info.get("State", {}).get("Pid") or 0)
    if not pid:
        return None
    return Sandbox(pid, f"{pod}_{namespace}", (newest.get("Labels") or {}).get(L.POD_UID, ""))
