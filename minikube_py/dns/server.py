"""The DNS server: UDP and TCP on one port, each query answered from the zone or
forwarded; malformed ones get FORMERR, never an exception out of the loop.

Zone answers are kept by the query's bytes after its id, until the caches change
(`invalidate`, called from the informers' handlers): a repeated question then costs a
dict lookup and a copy, not a parse and an encode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from typing import cast

from minikube_py.dns import wire
from minikube_py.dns.forward import Forwarder
from minikube_py.dns.metrics import DnsMetrics
from minikube_py.dns.records import FORMERR, SERVFAIL, Answer, Zone

log = logging.getLogger(__name__)

ANSWER_CACHE_SIZE = 50000
TCP_IDLE = 10.0  # seconds a TCP client may stay silent between queries


class Resolver:
    """Bytes in, bytes out: the zone first, then the forwarder."""

    def __init__(self, zone: Zone, forwarder: Forwarder, metrics: DnsMetrics) -> None:
        self.zone = zone
        self.forwarder = forwarder
        self.metrics = metrics
        self._answers: dict[tuple[bytes, bool], tuple[bytes, str, int]] = {}

    def invalidate(self) -> None:
        """The caches changed: no stored zone answer may be served again."""
        self._answers.clear()

    async def resolve(self, data: bytes, *, udp: bool) -> bytes | None:
        """The reply to one message (None: nothing to send, e.g. it was a response)."""
        start = time.perf_counter()
        proto = "udp" if udp else "tcp"
        stored = self._answers.get((data[2:], udp))
        if stored is not None:
            self.metrics.cache[("zone", "hit")] += 1
            self.metrics.observe(proto, stored[1], stored[2], time.perf_counter() - start)
            return data[:2] + stored[0]
        reply: bytes | None
        try:
            reply, qtype = await self._answer(data, udp)
        except wire.Malformed as e:
            log.debug("malformed query error=%s", e)
            reply, qtype = wire.error_reply(data, FORMERR), "invalid"
        except Exception:
            log.exception("query failed")
            reply, qtype = wire.error_reply(data, SERVFAIL), "invalid"
        if reply is not None:
            self.metrics.observe(proto, qtype, wire.rcode_of(reply), time.perf_counter() - start)
        return reply

    async def _answer(self, data: bytes, udp: bool) -> tuple[bytes | None, str]:
        query = wire.decode(data)
        rejected = wire.reject_opcode(query)
        if rejected is not None:
            return rejected, query.qtype
        answer = self.zone.lookup(query.qname, query.qtype)
        if answer is not None:
            reply = wire.encode(query, answer, udp=udp)
            self.metrics.cache[("zone", "miss")] += 1
            if len(self._answers) >= ANSWER_CACHE_SIZE:
                self._answers.clear()
            target = _external_target(answer, query.qtype)
            if target is not None:  # an ExternalName: follow it, never store the result
                return await self._follow(query, reply, target, udp), query.qtype
            self._answers[(data[2:], udp)] = (reply[2:], query.qtype, answer.rcode)
            return reply, query.qtype
        reply = await self.forwarder.forward(query, data)
        if udp and len(reply) > query.udp_size:
            reply = wire.truncated_reply(query)
        return reply, query.qtype

    async def _follow(self, query: wire.Query, reply: bytes, target: str, udp: bool) -> bytes:
        asked = wire.question(target, query.qtype)
        inner = await self.resolve(asked, udp=False)
        return wire.followed(query, reply, inner, udp=udp) if inner else reply


def _external_target(answer: Answer, qtype: str) -> str | None:
    """The CNAME target to follow: an answer that is only a CNAME, to a type other than
    CNAME (a CNAME to another cluster name is followed through the zone too)."""
    if qtype in ("CNAME", "ANY") or len(answer.answer) != 1 \
            or answer.answer[0].rtype != "CNAME":
        return None
    return str(answer.answer[0].data[0])


class UdpServer(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11: not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        if not task.done():  # a zone answer completes at once; forwards wait upstream
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self.resolver.resolve(data, udp=True)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error=%r", exc)


async def serve_tcp_client(resolver: Resolver, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
    """Length-prefixed queries until the client closes or idles (RFC 7766), in order."""
    try:
        while True:
            async with asyncio.timeout(TCP_IDLE):
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                data = await reader.readexactly(length)
            reply = await resolver.resolve(data, udp=False)
            if reply is None:
                continue
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
