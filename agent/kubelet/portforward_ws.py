"""Port forwarding over the WebSocket channel protocol (v4.channel.k8s.io, or no
subprotocol), what the official Python client's `portforward` speaks through the
api-server's pods/portforward; or v4.base64.channel.k8s.io, the same channels in text
messages (channels.py).

Every port asked for (`?port=8080&port=9090`, in order) owns two channels: 2i carries
data both ways, 2i+1 the error the kubelet reports. The first message on each channel is
the port number alone (two bytes, little endian), as kubelet's websocket.go writes it;
then each port is one TCP connection to localhost:port inside the pod's network
namespace. The WebSocket closes once every port's connection has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import web

from agent.kubelet import channels as ch
from agent.kubelet import poddial
from agent.kubelet.poddial import Sandbox

log = logging.getLogger(__name__)

PROTOCOLS = ("v4.channel.k8s.io", ch.BASE64)
QUEUED = 64  # messages per port before the client's reads pause


async def _forward(ws: web.WebSocketResponse, sandbox: Sandbox, index: int, port: int,
                   inbound: asyncio.Queue[bytes]) -> None:
    """One port: the client's data channel (queued, b"" at its end) to the pod and back;
    a failure goes on the port's error channel."""
    data, error = 2 * index, 2 * index + 1
    b64 = ws.ws_protocol == ch.BASE64

    async def write(chunk: bytes) -> None:
        await ch.send(ws, ch.encode(data, chunk, base64_text=b64))
    try:
        await poddial.forward(sandbox.pid, port, inbound.get, write)
    except OSError as e:
        log.info("port-forward failed pod=%s port=%d err=%s", sandbox.full_name, port, e)
        with contextlib.suppress(ConnectionError):
            await ch.send(ws, ch.encode(error, poddial.failure(port, sandbox, e),
                                        base64_text=b64))


async def serve(request: web.Request, sandbox: Sandbox, ports: list[int]
                ) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    await ws.prepare(request)
    b64 = ws.ws_protocol == ch.BASE64
    queues: list[asyncio.Queue[bytes]] = [asyncio.Queue(maxsize=QUEUED) for _ in ports]
    for index, port in enumerate(ports):
        prefix = port.to_bytes(2, "little")
        await ch.send(ws, ch.encode(2 * index, prefix, base64_text=b64))
        await ch.send(ws, ch.encode(2 * index + 1, prefix, base64_text=b64))

    async def read_client() -> None:
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                continue
            try:
                channel, payload = ch.decode(msg.data, base64_text=b64)
            except ValueError:
                continue
            if payload and channel % 2 == 0 and channel // 2 < len(queues):
                await queues[channel // 2].put(payload)  # a slow pod slows its client
        for queue in queues:  # the client is done: EOF for every pod connection
            await queue.put(b"")

    reader = asyncio.create_task(read_client(), name=f"portforward-ws-in-{sandbox.full_name}")
    try:
        await asyncio.gather(*(_forward(ws, sandbox, i, port, queues[i])
                               for i, port in enumerate(ports)))
    except ConnectionError:
        log.info("port-forward client went away pod=%s", sandbox.full_name)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await ws.close()
    return ws
