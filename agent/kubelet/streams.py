"""Container logs, exec and attach streams out of Docker, as asyncio byte streams.

Logs: Docker's (demultiplexed) log generator is pumped from a thread into an
asyncio queue. Exec and attach: the hijacked socket is made non-blocking and driven by
the event loop directly (`sock_recv`/`sock_sendall`), one coroutine per direction.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import socket
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from agent.kubelet.channels import STDERR, STDOUT, SUCCESS, DockerDemux, exit_status
from agent.kubelet.runtime import DockerRuntime

log = logging.getLogger(__name__)


async def log_stream(runtime: DockerRuntime, cid: str, *, follow: bool, tail: int | None,
                     since: int | None, timestamps: bool, limit: int | None
                     ) -> AsyncGenerator[bytes, None]:
    """Chunks of the container's log, stopping at `limit` bytes if given."""
    kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "stream": True, "follow": follow,
                              "timestamps": timestamps, "tail": tail if tail is not None else "all"}
    if since:
        kwargs["since"] = since
    gen = await runtime.call(runtime.api.logs, cid, **kwargs)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

    def pump() -> None:
        try:
            for chunk in gen:
                fut = asyncio.run_coroutine_threadsafe(queue.put(chunk), loop)
                fut.result()
        except Exception as e:  # noqa: BLE001 - the stream was closed under us: end of logs
            log.debug("log stream ended container=%s err=%r", cid[:12], e)
        finally:
            asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    threading.Thread(target=pump, name=f"logs-{cid[:12]}", daemon=True).start()
    sent = 0
    try:
        while (chunk := await queue.get()) is not None:
            if limit is not None and sent + len(chunk) >= limit:
                yield chunk[:limit - sent]
                return
            sent += len(chunk)
            yield chunk
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


class StreamSession(abc.ABC):
    """A hijacked Docker socket (an exec's or an attach's); `pump(out)` forwards output
    until EOF, `final_status()` is what the error channel reports at the end."""

    def __init__(self, runtime: DockerRuntime, sock: Any, tty: bool) -> None:
        self.runtime, self.tty = runtime, tty
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._sock.setblocking(False)

    async def pump(self, out: Callable[[int, bytes], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        demux = DockerDemux()
        while data := await loop.sock_recv(self._sock, 65536):
            if self.tty:
                await out(STDOUT, data)
                continue
            for stream, payload in demux.feed(data):
                await out(STDERR if stream == 2 else STDOUT, payload)

    async def write(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self._sock, data)

    def close_stdin(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    @abc.abstractmethod
    async def resize(self, width: int, height: int) -> None:
        """Follow the client's terminal size."""

    @abc.abstractmethod
    async def final_status(self) -> dict[str, Any]:
        """The metav1.Status the error channel carries once output ended."""

    def close(self) -> None:
        self._sock.close()


class ExecSession(StreamSession):
    """One `docker exec`; ends with the command's exit code."""

    def __init__(self, runtime: DockerRuntime, exec_id: str, sock: Any, tty: bool) -> None:
        super().__init__(runtime, sock, tty)
        self.exec_id = exec_id

    @classmethod
    async def start(cls, runtime: DockerRuntime, cid: str, cmd: list[str], *, stdin: bool,
                    stdout: bool, stderr: bool, tty: bool) -> ExecSession:
        def create() -> tuple[str, Any]:
            ex = runtime.api.exec_create(cid, cmd, stdin=stdin, stdout=stdout, stderr=stderr,
                                         tty=tty)
            return ex["Id"], runtime.api.exec_start(ex["Id"], tty=tty, socket=True)
        exec_id, sock = await runtime.call(create)
        return cls(runtime, exec_id, sock, tty)

    async def resize(self, width: int, height: int) -> None:
        await self.runtime.call(self.runtime.api.exec_resize, self.exec_id, height=height,
                                width=width)

    async def exit_code(self) -> int:
        for _ in range(50):  # the socket can close a moment before Docker records the code
            info = await self.runtime.call(self.runtime.api.exec_inspect, self.exec_id)
            if not info.get("Running"):
                return int(info.get("ExitCode") or 0)
            await asyncio.sleep(0.02)
        return int(info.get("ExitCode") or 0)

    async def final_status(self) -> dict[str, Any]:
        return exit_status(await self.exit_code())


class AttachSession(StreamSession):
    """`docker attach` to a container's main process (kubectl attach, run -it): its
    stdin, output and TTY; as the kubelet's ServeAttach, the end is always a Success
    (kubectl learns the exit code from the pod's status)."""

    def __init__(self, runtime: DockerRuntime, cid: str, sock: Any, tty: bool) -> None:
        super().__init__(runtime, sock, tty)
        self.cid = cid

    @classmethod
    async def start(cls, runtime: DockerRuntime, cid: str) -> AttachSession:
        sock, tty = await runtime.attach(cid)
        return cls(runtime, cid, sock, tty)

    async def resize(self, width: int, height: int) -> None:
        await self.runtime.resize(self.cid, width, height)

    async def final_status(self) -> dict[str, Any]:
        return SUCCESS
