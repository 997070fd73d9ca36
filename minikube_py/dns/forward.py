"""Names outside the cluster: asked of upstream servers, answers cached for their TTL.

Every query goes out from its own socket with a fresh id (a fresh source port too); a
truncated answer is asked again over TCP; upstreams are tried in turn until the
deadline, after which the client gets SERVFAIL (within 2 s, before a stub resolver's
own 5 s timeout would make it give up on the whole name). Stub domains send their
names to their own servers (CoreDNS's `forward` per zone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import dnslib

from minikube_py.dns.metrics import DnsMetrics
from minikube_py.dns.records import NOERROR, NXDOMAIN, SERVFAIL
from minikube_py.dns.wire import Query

log = logging.getLogger(__name__)

Address = tuple[str, int]
MAX_CACHED_TTL = 3600
NEGATIVE_TTL = 30  # an NXDOMAIN without SOA is kept this long


def parse_address(text: str) -> Address:
    """`1.2.3.4`, `1.2.3.4:5353`, `[fd00::1]:53` or `fd00::1`."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host.rstrip("]"), int(port or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


@dataclass(frozen=True)
class Upstreams:
    """Servers for all names, and per stub domain (the longest matching suffix wins)."""

    default: tuple[Address, ...]
    stubs: dict[str, tuple[Address, ...]] = field(default_factory=dict)

    def for_name(self, qname: str) -> tuple[Address, ...]:
        name = qname.lower().rstrip(".")
        best = ""
        for domain in self.stubs:
            if (name == domain or name.endswith("." + domain)) and len(domain) > len(best):
                best = domain
        return self.stubs[best] if best else self.default


class _Exchange(asyncio.DatagramProtocol):
    """One query on its own socket: the kernel picks a fresh source port for every query
    and the reply must come from the upstream (a connected socket) with our random id, so
    a spoofed answer has to guess 32 bits, not 16 (RFC 5452)."""

    def __init__(self, qid: bytes) -> None:
        self.qid = qid
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if data[:2] == self.qid and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: try the next one
        if not self.reply.done():
            self.reply.set_exception(exc)


async def ask_udp(address: Address, data: bytes, timeout: float) -> bytes:
    """One query over UDP, with a fresh id, from a fresh port."""
    qid = secrets.token_bytes(2)
    transport, exchange = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Exchange(qid), remote_addr=address)
    try:
        transport.sendto(qid + data[2:])
        return await asyncio.wait_for(exchange.reply, timeout)
    finally:
        transport.close()


async def ask_tcp(address: Address, data: bytes, timeout: float) -> bytes:
    """One query over TCP (two-byte length prefix, RFC 1035 4.2.2)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(*address)
        try:
            writer.write(struct.pack("!H", len(data)) + data)
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(length)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class _Cached:
    record: dnslib.DNSRecord
    stored: float
    expires: float


class Forwarder:
    def __init__(self, upstreams: Upstreams, metrics: DnsMetrics, *, deadline: float = 1.5,
                 try_timeout: float = 0.5, cache_size: int = 10000) -> None:
        self.upstreams = upstreams
        self.metrics = metrics
        self.deadline = deadline
        self.try_timeout = try_timeout
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int, int, bool], _Cached] = OrderedDict()

    async def forward(self, query: Query, data: bytes) -> bytes:
        """The upstream answer to `data` with the client's id (SERVFAIL if none came)."""
        q = query.record.q
        key = (query.qname.lower(), int(q.qtype), int(q.qclass), query.udp_size > 512)
        cached = self._from_cache(key, data[:2])
        if cached is not None:
            return cached
        reply = await self._ask(query, data)
        if reply is None:
            return self._servfail(query)
        self._store(key, reply)
        return data[:2] + reply[2:]

    async def _ask(self, query: Query, data: bytes) -> bytes | None:
        servers = self.upstreams.for_name(query.qname)
        if not servers:
            return None
        end = time.monotonic() + self.deadline
        attempt = 0
        while (left := end - time.monotonic()) > 0:
            address = servers[attempt % len(servers)]
            attempt += 1
            to = f"{address[0]}:{address[1]}"
            try:
                reply = await ask_udp(address, data, min(self.try_timeout, left))
                if reply[2] & 0x02:  # TC: the whole answer over TCP
                    reply = await ask_tcp(address, data, max(0.05, end - time.monotonic()))
            except TimeoutError:
                self.metrics.forwards[(to, "timeout")] += 1
                continue
            except (OSError, asyncio.IncompleteReadError, struct.error) as e:
                self.metrics.forwards[(to, "error")] += 1
                log.debug("upstream failed to=%s error=%r", to, e)
                await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))
                continue
            self.metrics.forwards[(to, "answer")] += 1
            return reply
        log.warning("no upstream answered name=%s type=%s upstreams=%s", query.qname,
                    query.qtype, ",".join(f"{h}:{p}" for h, p in servers))
        return None

    def _servfail(self, query: Query) -> bytes:
        reply = query.record.reply(ra=1, aa=0)
        reply.header.rcode = SERVFAIL
        return bytes(reply.pack())

    # -- the cache --------------------------------------------------------------------

    def _from_cache(self, key: tuple[str, int, int, bool], qid: bytes) -> bytes | None:
        entry = self._cache.get(key)
        now = time.monotonic()
        if entry is None or entry.expires <= now:
            if entry is not None:
                del self._cache[key]
            self.metrics.cache[("forward", "miss")] += 1
            return None
        self.metrics.cache[("forward", "hit")] += 1
        aged = int(now - entry.stored)
        record = entry.record
        original = [rr.ttl for rr in (*record.rr, *record.auth, *record.ar)]
        for rr in (*record.rr, *record.auth, *record.ar):
            if rr.rtype != dnslib.QTYPE.OPT:
                rr.ttl = max(0, rr.ttl - aged)
        packed = bytes(record.pack())
        for rr, ttl in zip((*record.rr, *record.auth, *record.ar), original):
            rr.ttl = ttl
        return qid + packed[2:]

    def _store(self, key: tuple[str, int, int, bool], reply: bytes) -> None:
        """Keep NOERROR and NXDOMAIN answers for their smallest TTL (negative ones for the
        SOA's minimum, RFC 2308); nothing truncated or failed."""
        try:
            record = dnslib.DNSRecord.parse(reply)
        except Exception:  # noqa: BLE001 - an unparseable upstream answer is not cached
            return
        if record.header.rcode not in (NOERROR, NXDOMAIN) or record.header.tc:
            return
        if record.rr:
            ttl = min(rr.ttl for rr in record.rr)
        else:
            soas = [min(rr.ttl, rr.rdata.times[-1]) for rr in record.auth
                    if rr.rtype == dnslib.QTYPE.SOA]
            ttl = min(soas) if soas else NEGATIVE_TTL
        ttl = min(ttl, MAX_CACHED_TTL)
        if ttl <= 0:
            return
        now = time.monotonic()
        self._cache[key] = _Cached(record, now, now + ttl)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
