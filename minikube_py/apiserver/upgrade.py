"""Upgraded connections (exec, attach and port-forward over SPDY/3.1 or WebSocket)
relayed as raw bytes.

Like kube-apiserver's UpgradeAwareHandler: the upgrade request goes to the kubelet
over its own TLS connection; if the kubelet answers 101, the client gets that 101
(with the negotiated X-Stream-Protocol-Version, or the WebSocket's accept key and
subprotocol) and from then on bytes are copied both ways untouched until either side
closes: a WebSocket's frames are the kubelet's own. Anything but 101 becomes a
metav1.Status error carrying the kubelet's message, so nothing is upgraded on a refusal.

A tunnelled upgrade (kubectl >= 1.31 port-forward: a WebSocket whose subprotocol is
`SPDY/3.1+portforward.k8s.io`, the SPDY bytes in its binary messages, as kube-apiserver's
TunnelingHandler takes it) asks the kubelet for the plain SPDY upgrade and splices its
bytes into the client's WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from minikube_py.api import errors

log = logging.getLogger(__name__)

FORWARDED = ("Upgrade", "X-Stream-Protocol-Version", "Sec-WebSocket-Key",
             "Sec-WebSocket-Version", "Sec-WebSocket-Protocol")
ANSWERED = {"upgrade", "x-stream-protocol-version", "sec-websocket-accept",
            "sec-websocket-protocol"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
CHUNK = 1 << 18
BUFFERED = 1 << 20  # per direction before the sender is paused


class _IntoReader:
    """aiohttp's payload-parser seat: the client's bytes after the 101 go to a
    StreamReader, which pauses the client's transport while it is full."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


def _request_head(request: web.Request, url: URL, tunnel: str | None = None) -> bytes:
    lines = [f"{request.method} {url.raw_path_qs} HTTP/1.1", f"Host: {url.raw_authority}",
             "Connection: Upgrade", "Content-Length: 0"]
    if tunnel is not None:  # "SPDY/3.1+portforward.k8s.io": what the tunnel carries
        upgrade, _, protocol = tunnel.partition("+")
        lines += [f"Upgrade: {upgrade}", f"X-Stream-Protocol-Version: {protocol}"]
    else:
        lines += [f"{name}: {value}" for name in FORWARDED
                  for value in request.headers.getall(name, [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"bad status line {status_line!r}")
    pairs = [tuple(p.strip() for p in line.split(":", 1)) for line in lines if ":" in line]
    return int(parts[1]), [(k, v) for k, v in pairs]


async def _pump(read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], None],
                drain: Callable[[], Awaitable[None]]) -> None:
    while chunk := await read():
        write(chunk)
        await drain()


async def both_ways(name: str, upstream: Coroutine[Any, Any, None],
                   downstream: Coroutine[Any, Any, None]) -> None:
    """A relay's two directions until either ends (its source closed), then the other is
    stopped: a connection lost on either side is the end of the relay, not an error."""
    tasks = [asyncio.create_task(upstream, name=f"{name}-upstream"),
             asyncio.create_task(downstream, name=f"{name}-downstream")]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task


async def relay(request: web.Request, url: str, params: Sequence[tuple[str, str]], *,
                ssl: ssl.SSLContext, server_hostname: str, tunnel: str | None = None
                ) -> web.StreamResponse:
    """Forward the upgrade request to `url` (the kubelet, whose certificate must name
    `server_hostname`), then splice the two sockets (or, with `tunnel`, the kubelet's
    socket into the client's WebSocket of that subprotocol)."""
    target = URL(url).with_query(list(params))
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(
            target.host, target.port, ssl=ssl, server_hostname=server_hostname,
            limit=BUFFERED), timeout=10)
    except (OSError, TimeoutError) as e:
        raise errors.StatusError(502, "BadGateway", f"error dialing the kubelet: {e}") from None
    try:
        up_writer.write(_request_head(request, target, tunnel))
        head = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), timeout=30)
        status, answer = _parse_head(head)
        if status != 101:
            body = await asyncio.wait_for(up_reader.read(CHUNK), timeout=10)
            code = status if status >= 400 else 502
            raise errors.StatusError(code, REASONS.get(code, "InternalError"),
                                     f"kubelet refused the upgrade: {body.decode(errors='replace').strip()}")
        if tunnel is not None:
            return await _splice_websocket(request, tunnel, up_reader, up_writer)
        return await _splice(request, answer, up_reader, up_writer)
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as e:
        raise errors.StatusError(502, "BadGateway", f"kubelet upgrade failed: {e!r}") from None
    finally:
        up_writer.close()


async def _splice(request: web.Request, answer: list[tuple[str, str]],
                  up_reader: asyncio.StreamReader,
                  up_writer: asyncio.StreamWriter) -> web.StreamResponse:
    transport, handler = request.transport, request.protocol
    if transport is None:
        raise ConnectionResetError("client went away")
    client_reader = asyncio.StreamReader(limit=BUFFERED)
    client_reader.set_transport(transport)
    handler.set_parser(_IntoReader(client_reader))  # type: ignore[arg-type]
    response = web.StreamResponse(status=101)
    response.headers["Connection"] = "Upgrade"
    for name, value in answer:
        if name.lower() in ANSWERED:
            response.headers.add(name, value)
    await response.prepare(request)

    def to_client(chunk: bytes) -> None:
        if not transport.is_closing():
            transport.write(chunk)
    try:
        await both_ways("upgrade",
                        _pump(lambda: client_reader.read(CHUNK), up_writer.write,
                              up_writer.drain),
                        _pump(lambda: up_reader.read(CHUNK), to_client,
                              handler._drain_helper))  # as aiohttp's own writers
    finally:
        transport.close()
    return response


async def _splice_websocket(request: web.Request, protocol: str,
                            up_reader: asyncio.StreamReader,
                            up_writer: asyncio.StreamWriter) -> web.WebSocketResponse:
    """The kubelet's bytes as binary messages, and the client's messages as bytes."""
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0)
    await ws.prepare(request)

    async def to_kubelet() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                up_writer.write(msg.data)
                await up_writer.drain()

    async def to_client() -> None:
        while chunk := await up_reader.read(CHUNK):
            await ws.send_bytes(chunk)
    try:
        await both_ways("tunnel", to_kubelet(), to_client())
    finally:
        await ws.close()
    return ws
