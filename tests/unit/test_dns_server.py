"""The DNS server's bytes-in/bytes-out path: the zone through the wire, bad packets,
truncation, and forwarding to stub upstreams on loopback. Messages are built and read
with dnspython, a second library, so the wire format is checked independently."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import dns.asyncquery
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube_py.dns import DnsSettings
from minikube_py.dns.app import listen
from minikube_py.dns.forward import Forwarder, Upstreams, parse_address
from minikube_py.dns.metrics import DnsMetrics
from minikube_py.dns.server import Resolver
from tests.fixtures.dns_zone import Cluster, endpoint_slice, service

Handler = Callable[[dns.message.Message], dns.message.Message | None]


NO_UPSTREAMS = Upstreams(())


def make_resolver(upstreams: Upstreams = NO_UPSTREAMS) -> tuple[Resolver, Cluster]:
    cluster = Cluster()
    cluster.add(cluster.services, service("kubernetes", ip="10.96.0.1"))
    cluster.add(cluster.services, service("ext", type="ExternalName",
                                          externalName="www.example.org", ip=None))
    metrics = DnsMetrics()
    forwarder = Forwarder(upstreams, metrics, deadline=1.5, try_timeout=0.5)
    return Resolver(cluster.zone, forwarder, metrics), cluster


async def ask(resolver: Resolver, name: str, qtype: str = "A", *, udp: bool = True,
              **kw: Any) -> dns.message.Message:
    query = dns.message.make_query(name, qtype, **kw)  # make_query's own keywords
    reply = await resolver.resolve(query.to_wire(), udp=udp)
    assert reply is not None
    message = dns.message.from_wire(reply)
    assert message.id == query.id
    return message


async def test_zone_answer_is_authoritative() -> None:
    resolver, _ = make_resolver()
    reply = await ask(resolver, "kubernetes.default.svc.cluster.local")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA and reply.flags & dns.flags.QR
    assert [str(r) for r in reply.answer[0]] == ["10.96.0.1"]
    assert reply.answer[0].ttl == 5


async def test_nxdomain_carries_the_soa() -> None:
    resolver, _ = make_resolver()
    reply = await ask(resolver, "nope.default.svc.cluster.local")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.authority[0].rdtype == dns.rdatatype.SOA


async def test_stored_answers_follow_the_caches() -> None:
    resolver, cluster = make_resolver()
    first = await ask(resolver, "web.default.svc.cluster.local")
    assert first.rcode() == dns.rcode.NXDOMAIN
    assert (await ask(resolver, "web.default.svc.cluster.local")).rcode() == dns.rcode.NXDOMAIN
    assert resolver.metrics.cache[("zone", "hit")] == 1
    cluster.add(cluster.services, service("web", ip="10.96.0.77"))
    resolver.invalidate()  # what the informers' handlers call
    reply = await ask(resolver, "web.default.svc.cluster.local")
    assert [str(r) for r in reply.answer[0]] == ["10.96.0.77"]


async def test_malformed_gets_formerr_and_short_packets_silence() -> None:
    resolver, _ = make_resolver()
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
    reply = await resolver.resolve(header + b"\x05abc", udp=True)  # question cut short
    assert reply is not None and reply[:2] == b"\xbe\xef"
    assert dns.message.from_wire(reply).rcode() == dns.rcode.FORMERR
    assert await resolver.resolve(b"\x01\x02\x03", udp=True) is None
    no_question = struct.pack("!HHHHHH", 7, 0x0100, 0, 0, 0, 0)
    assert dns.message.from_wire(
        await resolver.resolve(no_question, udp=True) or b"").rcode() == dns.rcode.FORMERR


async def test_responses_are_not_answered() -> None:
    resolver, _ = make_resolver()
    query = dns.message.make_query("kubernetes.default.svc.cluster.local", "A")
    response = dns.message.make_response(query)
    assert await resolver.resolve(response.to_wire(), udp=True) is None


async def test_other_opcodes_get_notimp() -> None:
    resolver, _ = make_resolver()
    query = dns.message.make_query("cluster.local", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    reply = await resolver.resolve(query.to_wire(), udp=True)
    assert reply is not None and dns.message.from_wire(reply).rcode() == dns.rcode.NOTIMP


def _raw_query(labels: list[bytes]) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"


async def test_names_past_the_rfc_limits_are_refused_with_formerr() -> None:
    resolver, _ = make_resolver()
    long_name = [b"a" * 60] * 5  # 306 bytes: past the 255-byte limit
    reply = await resolver.resolve(_raw_query(long_name), udp=True)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR
    long_label = _raw_query([b"b" * 63]).replace(b"\x3f", b"\x40", 1)[:-4] + b"b\x00\x01\x00\x01"
    reply = await resolver.resolve(long_label, udp=True)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR
    ok = await resolver.resolve(_raw_query([b"c" * 63, b"cluster", b"local"]), udp=True)
    assert ok is not None and ok[3] & 0x0F == dns.rcode.NXDOMAIN


async def test_large_answer_is_truncated_over_udp_and_whole_over_tcp() -> None:
    resolver, cluster = make_resolver()
    cluster.add(cluster.services, service("big", ip=None))
    cluster.add(cluster.slices, endpoint_slice("big", "default", [
        (f"10.244.{i // 250}.{i % 250 + 1}", None, True) for i in range(100)]))
    udp = await ask(resolver, "big.default.svc.cluster.local")
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = await ask(resolver, "big.default.svc.cluster.local", udp=False)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 100
    edns = await ask(resolver, "big.default.svc.cluster.local", use_edns=0, payload=4096)
    assert edns.flags & dns.flags.TC  # 100 A records exceed our 1232-byte EDNS size too


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzzed_packets_never_crash(packet: bytes) -> None:
    resolver, _ = make_resolver()
    reply = asyncio.run(resolver.resolve(packet, udp=True))
    if reply is not None:
        assert reply[:2] == packet[:2]
        dns.message.from_wire(reply, question_only=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["kubernetes.default.svc.cluster.local", "_http._tcp.x.default.svc.cluster.local",
                         "1.0.96.10.in-addr.arpa", "cluster.local"]),
       st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=6))
def test_mutated_queries_never_crash(name: str, flips: list[tuple[int, int]]) -> None:
    packet = bytearray(dns.message.make_query(name, "A").to_wire())
    for at, value in flips:
        if at < len(packet):
            packet[at] = value
    resolver, _ = make_resolver()
    reply = asyncio.run(resolver.resolve(bytes(packet), udp=True))
    assert reply is None or reply[:2] == bytes(packet[:2])


# -- forwarding, to stub upstreams on loopback ------------------------------------------


class StubUpstream(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.asked = 0
        self.peers: list[tuple[str | int, ...]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11: not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.asked += 1
        self.peers.append(addr)
        query = dns.message.from_wire(data)
        reply = self.handler(query)
        if reply is not None and self.transport is not None:
            spoof = dns.message.make_response(query)  # first a reply with another id
            spoof.id = query.id ^ 0xFFFF
            spoof.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A",
                                                    "203.0.113.66"))
            self.transport.sendto(spoof.to_wire(), addr)
            self.transport.sendto(reply.to_wire(), addr)


def answering(ttl: int = 60, address: str = "192.0.2.1") -> Handler:
    def handle(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        q = query.question[0]
        if q.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text(q.name, ttl, "IN", "A", address))
        return reply
    return handle


StartStub = Callable[[Handler], Awaitable[StubUpstream]]


@pytest.fixture
async def stub() -> AsyncIterator[StartStub]:
    transports: list[asyncio.DatagramTransport] = []

    async def start(handler: Handler) -> StubUpstream:
        transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: StubUpstream(handler), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return proto

    yield start
    for t in transports:
        t.close()


def address_of(upstream: StubUpstream) -> str:
    assert upstream.transport is not None
    host, port = upstream.transport.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


async def test_forwards_and_caches_for_the_ttl(stub: StartStub) -> None:
    upstream = await stub(answering(ttl=60))
    resolver, _ = make_resolver(Upstreams((parse_address(address_of(upstream)),)))
    first = await ask(resolver, "www.example.org")
    assert [str(r) for r in first.answer[0]] == ["192.0.2.1"]
    assert not first.flags & dns.flags.AA
    second = await ask(resolver, "www.example.org")
    assert [str(r) for r in second.answer[0]] == ["192.0.2.1"]
    assert upstream.asked == 1 and second.answer[0].ttl <= 60


async def test_each_forward_has_its_own_port_and_id_and_other_ids_are_ignored(
        stub: StartStub) -> None:
    upstream = await stub(answering(address="192.0.2.1"))
    resolver, _ = make_resolver(Upstreams((parse_address(address_of(upstream)),)))
    for i in range(5):
        reply = await ask(resolver, f"n{i}.example.org")
        assert [str(r) for r in reply.answer[0]] == ["192.0.2.1"]  # never the spoofed one
    assert len({peer[1] for peer in upstream.peers}) == 5  # five source ports


async def test_expired_answers_are_asked_again(stub: StartStub) -> None:
    upstream = await stub(answering(ttl=1))
    resolver, _ = make_resolver(Upstreams((parse_address(address_of(upstream)),)))
    await ask(resolver, "short.example.org")
    await asyncio.sleep(1.1)
    await ask(resolver, "short.example.org")
    assert upstream.asked == 2


async def test_silent_upstream_gives_servfail_within_two_seconds(stub: StartStub) -> None:
    silent = await stub(lambda q: None)
    resolver, _ = make_resolver(Upstreams((parse_address(address_of(silent)),)))
    start = time.monotonic()
    reply = await ask(resolver, "www.example.org")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - start < 2.0
    assert silent.asked >= 2  # retried within the deadline


async def test_second_upstream_answers_when_the_first_is_silent(stub: StartStub) -> None:
    silent, good = await stub(lambda q: None), await stub(answering())
    resolver, _ = make_resolver(Upstreams(tuple(parse_address(address_of(u))
                                                for u in (silent, good))))
    reply = await ask(resolver, "www.example.org")
    assert [str(r) for r in reply.answer[0]] == ["192.0.2.1"]


async def test_truncated_upstream_answer_is_fetched_over_tcp(stub: StartStub) -> None:
    def truncating(query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.TC
        return reply
    upstream = await stub(truncating)
    host, port = parse_address(address_of(upstream))
    whole = answering(address="192.0.2.99")

    async def tcp_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        reply = whole(dns.message.from_wire(await reader.readexactly(length)))
        assert reply is not None
        wire = reply.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(tcp_client, host, port)  # same port, TCP
    try:
        resolver, _ = make_resolver(Upstreams(((host, port),)))
        reply = await ask(resolver, "big.example.org")
        assert [str(r) for r in reply.answer[0]] == ["192.0.2.99"]
    finally:
        server.close()
        await server.wait_closed()


async def test_stub_domains_go_to_their_own_servers(stub: StartStub) -> None:
    default, corp = await stub(answering(address="192.0.2.1")), \
        await stub(answering(address="198.51.100.7"))
    upstreams = Upstreams((parse_address(address_of(default)),),
                          {"corp.example": (parse_address(address_of(corp)),)})
    resolver, _ = make_resolver(upstreams)
    reply = await ask(resolver, "db.corp.example")
    assert [str(r) for r in reply.answer[0]] == ["198.51.100.7"]
    reply = await ask(resolver, "corp.example.org")
    assert [str(r) for r in reply.answer[0]] == ["192.0.2.1"]


async def test_external_name_is_followed_upstream(stub: StartStub) -> None:
    upstream = await stub(answering(address="192.0.2.5"))
    resolver, _ = make_resolver(Upstreams((parse_address(address_of(upstream)),)))
    reply = await ask(resolver, "ext.default.svc.cluster.local")
    assert [(rr.rdtype, [str(r) for r in rr]) for rr in reply.answer] == [
        (dns.rdatatype.CNAME, ["www.example.org."]), (dns.rdatatype.A, ["192.0.2.5"])]


async def test_udp_and_tcp_listeners_answer() -> None:
    resolver, _ = make_resolver()
    udp, tcp = await listen(DnsSettings(bind_address="127.0.0.1", port=0), resolver)
    port = udp.get_extra_info("sockname")[1]
    try:
        query = dns.message.make_query("kubernetes.default.svc.cluster.local", "A")
        for send in (dns.asyncquery.udp, dns.asyncquery.tcp):
            reply = await send(query, "127.0.0.1", port=port, timeout=2)
            assert [str(r) for r in reply.answer[0]] == ["10.96.0.1"]
    finally:
        udp.close()
        tcp.close()
        await tcp.wait_closed()
