"""Exec and attach over SPDY/3.1: Kubernetes' remotecommand protocol for kubectl before
1.30.

The client upgrades the HTTP request (`Upgrade: SPDY/3.1`, offering
`X-Stream-Protocol-Version`s; the 101 names the one chosen), then opens one SPDY
stream per role, named by its `streamType` header: error, stdin, stdout, stderr and,
with a tty, resize (newline-separated JSON {"Width","Height"}). The command starts
once every stream the query asked for is open. At the end the error stream carries
the outcome: v4 a metav1.Status (NonZeroExitCode with an ExitCode cause, which
kubectl turns into its own exit code), v2/v3 the failure message as text, and every
stream is finished so the client's copies reach EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agent.kubelet import channels as ch
from agent.kubelet import spdy
from agent.kubelet.streams import StreamSession

log = logging.getLogger(__name__)

PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io")
STREAM_TIMEOUT = 30.0  # kubelet's default stream creation timeout


def is_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/")


def wanted(protocol: str, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> set[str]:
    """The stream types the client opens for these options (a tty merges stderr)."""
    want = {"error"}
    want |= {"stdin"} if stdin else set()
    want |= {"stdout"} if stdout else set()
    want |= {"stderr"} if stderr and not tty else set()
    want |= {"resize"} if tty and protocol != "v2.channel.k8s.io" else set()
    return want


def outcome(protocol: str, status: dict[str, Any]) -> bytes:
    """What the error stream carries for this Status in this protocol version."""
    if protocol == "v4.channel.k8s.io":
        return json.dumps(status).encode()
    return b"" if status.get("status") == "Success" else str(status.get("message", "")).encode()


async def _accept(conn: spdy.Connection, want: set[str]) -> dict[str, spdy.Stream]:
    got: dict[str, spdy.Stream] = {}
    async with asyncio.timeout(STREAM_TIMEOUT):
        while not want <= got.keys():
            stream = await conn.accept()
            if stream is None:
                raise ConnectionResetError("client went away before opening its streams")
            got[stream.type] = stream
    return got


async def _copy_stdin(stream: spdy.Stream, session: StreamSession) -> None:
    while chunk := await stream.read():
        await session.write(chunk)
    session.close_stdin()


async def _resize(stream: spdy.Stream, session: StreamSession) -> None:
    buf = b""
    while chunk := await stream.read():
        *lines, buf = (buf + chunk).split(b"\n")
        for line in filter(None, (raw.strip() for raw in lines)):
            size = json.loads(line)
            await session.resize(int(size["Width"]), int(size["Height"]))


async def serve(request: web.Request, start: Callable[[], Awaitable[StreamSession]], *,
                stdin: bool, stdout: bool, stderr: bool, tty: bool) -> web.StreamResponse:
    """One exec or attach over SPDY, from the upgrade to the last frame; `start` runs the
    command (or attaches)."""
    conn, response, protocol = await spdy.upgrade(request, PROTOCOLS)
    try:
        streams = await _accept(conn, wanted(protocol, stdin=stdin, stdout=stdout,
                                             stderr=stderr, tty=tty))
        await _run(streams, protocol, start)
    except (ConnectionError, TimeoutError) as e:
        log.info("spdy exec ended early err=%r", e)
    finally:
        conn.close()
        if request.transport is not None:
            request.transport.close()
    return response


async def _run(streams: dict[str, spdy.Stream], protocol: str,
               start: Callable[[], Awaitable[StreamSession]]) -> None:
    try:
        session = await start()
    except Exception as e:  # noqa: BLE001 - any start failure is the client's error stream
        await _conclude(streams, protocol, ch.error_status(str(e)))
        return
    tasks = [asyncio.create_task(fn(streams[name], session), name=f"spdy-exec-{name}")
             for name, fn in (("stdin", _copy_stdin), ("resize", _resize)) if name in streams]

    async def out(channel: int, payload: bytes) -> None:
        stream = streams.get("stderr" if channel == ch.STDERR else "stdout")
        if stream is not None:
            await stream.write(payload)
    try:
        await session.pump(out)
        await _conclude(streams, protocol, await session.final_status())
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        session.close()


async def _conclude(streams: dict[str, spdy.Stream], protocol: str,
                    status: dict[str, Any]) -> None:
    body = outcome(protocol, status)
    if body:
        await streams["error"].write(body)
    for stream in streams.values():
        stream.finish()
