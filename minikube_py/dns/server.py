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
from dataclasses import dataclass
from typing import cast

from minikube_py.dns import wire
from minikube_py.dns.forward import Forwarder
from minikube_py.dns.metrics import DnsMetrics
from minikube_py.dns.records import FORMERR, SERVFAIL, Answer, Zone

log = logging.getLogger(__name__)

ANSWER_CACHE_SIZE = 50000
TCP_IDLE = 10.0  # seconds a TCP client may stay silent between queries


@dataclass
class Pending:
    """A query the zone could not finish alone: forward it, or follow its CNAME upstream."""

    query: wire.Query
    started: float
    cname_reply: bytes | None = None
    target: str = ""


class Resolver:
    """Bytes in, bytes out: the zone first, then the forwarder. `answer_now` does all that
    needs no upstream synchronously (no task per query on the hot path); `resolve` also
    waits for upstreams."""

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
        result = self.answer_now(data, udp=udp)
        if isinstance(result, Pending):
            return await self.finish(result, data, udp=udp)
        return result

    def answer_now(self, data: bytes, *, udp: bool) -> bytes | Pending | None:
        """The reply if no upstream is needed (stored, zone, errors), else what to finish."""
        start = time.perf_counter()
        stored = self._answers.get((data[2:], udp))
        if stored is not None:
            self.metrics.cache[("zone", "hit")] += 1
            self.metrics.observe("udp" if udp else "tcp", stored[1], stored[2],
                                 time.perf_counter() - start)
            return data[:2] + stored[0]
        reply: bytes | None
        try:
            local = self._local(data, udp, start)
            if isinstance(local, Pending):
                return local
            reply, qtype = local
        except wire.Malformed as e:
            log.debug("malformed query error=%s", e)
            reply, qtype = wire.error_reply(data, FORMERR), "invalid"
        except Exception:
            log.exception("query failed")
            reply, qtype = wire.error_reply(data, SERVFAIL), "invalid"
        if reply is not None:
            self.metrics.observe("udp" if udp else "tcp", qtype, wire.rcode_of(reply),
                                 time.perf_counter() - start)
        return reply

    def _local(self, data: bytes, udp: bool, start: float
               ) -> tuple[bytes | None, str] | Pending:
        query = wire.decode(data)
        rejected = wire.reject_opcode(query)
        if rejected is not None:
            return rejected, query.qtype
        answer = self.zone.lookup(query.qname, query.qtype)
        if answer is None:
            return Pending(query, start)
        reply = wire.encode(query, answer, udp=udp)
        self.metrics.cache[("zone", "miss")] += 1
        target = _external_target(answer, query.qtype)
        if target is not None:  # an ExternalName: follow it, never store the result
            return Pending(query, start, reply, target)
        if len(self._answers) >= ANSWER_CACHE_SIZE:
            self._answers.clear()
        self._answers[(data[2:], udp)] = (reply[2:], query.qtype, answer.rcode)
        return reply, query.qtype

    async def finish(self, pending: Pending, data: bytes, *, udp: bool) -> bytes:
        """Forward, or follow the CNAME; SERVFAIL if that fails unexpectedly."""
        query = pending.query
        try:
            if pending.cname_reply is not None:
                inner = await self.resolve(wire.question(pending.target, query.qtype),
                                           udp=False)
                reply = wire.followed(query, pending.cname_reply, inner, udp=udp) if inner \
                    else pending.cname_reply
            else:
                reply = await self.forwarder.forward(query, data)
                if udp and len(reply) > query.udp_size:
                    reply = wire.truncated_reply(query)
        except Exception:
            log.exception("query failed name=%s", query.qname)
            reply = wire.error_reply(data, SERVFAIL) or b""
        self.metrics.observe("udp" if udp else "tcp", query.qtype, wire.rcode_of(reply),
                             time.perf_counter() - pending.started)
        return reply


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
        result = self.resolver.answer_now(data, udp=True)
        if isinstance(result, Pending):  # only upstream work becomes a task
            task = asyncio.create_task(self._finish(result, data, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif result is not None and self.transport is not None:
            self.transport.sendto(result, addr)

    async def _finish(self, pending: Pending, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self.resolver.finish(pending, data, udp=True)
        if reply and self.transport is not None:
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
