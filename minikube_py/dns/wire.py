"""DNS messages on the wire, through dnslib (chosen by measurement: bench/README.md).

Only this module knows the library: the zone speaks `RR`/`Answer`, the server bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dnslib

from minikube_py.dns.records import FORMERR, NOTIMP, RR, Answer

UDP_PLAIN = 512  # a UDP answer's limit without EDNS (RFC 1035)
UDP_EDNS_CAP = 1232  # what we accept to send over EDNS (the DNS flag day 2020 size)
MAX_NAME = 255
MAX_LABEL = 63
HEADER = 12


class Malformed(Exception):
    """A packet that is not a query we can parse: the answer is FORMERR (or silence)."""


@dataclass
class Query:
    record: dnslib.DNSRecord
    qname: str
    qtype: str
    udp_size: int  # the largest UDP answer the client accepts


def decode(data: bytes) -> Query:
    """A parsed query; Malformed for anything else (responses, no or several
    questions, names past RFC 1035's 255-byte / 63-byte limits, garbage)."""
    try:
        record = dnslib.DNSRecord.parse(data)
    except Exception as e:  # dnslib raises many kinds (DNSError, BufferError, ValueError...)
        raise Malformed(str(e)) from e
    if record.header.qr or len(record.questions) != 1:
        raise Malformed("not one question")
    labels = record.q.qname.label
    if any(len(label) > MAX_LABEL for label in labels) or \
            sum(len(label) + 1 for label in labels) + 1 > MAX_NAME:
        raise Malformed("name too long")
    try:
        qname = str(record.q.qname)
    except UnicodeError as e:
        raise Malformed(str(e)) from e
    size = UDP_PLAIN
    for rr in record.ar:
        if rr.rtype == dnslib.QTYPE.OPT:
            size = max(UDP_PLAIN, min(int(rr.rclass), UDP_EDNS_CAP))
    return Query(record, qname, dnslib.QTYPE.get(record.q.qtype, str(record.q.qtype)), size)


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A header-only reply to what may not even parse: the id and opcode echoed,
    QR set, no sections. None if there is no header to answer (or it is a response)."""
    if len(data) < HEADER or data[2] & 0x80:
        return None
    flags = bytes([0x80 | (data[2] & 0x79), 0x80 | (rcode & 0x0F)])  # QR, opcode, RD; RA
    return data[:2] + flags + bytes(8)


def reject_opcode(query: Query) -> bytes | None:
    """NOTIMP for anything but a standard query (NOTIFY, UPDATE, IQUERY...)."""
    if query.record.header.opcode == 0:
        return None
    reply = query.record.reply(ra=1, aa=0)
    reply.header.rcode = NOTIMP
    return bytes(reply.pack())


def _rdata(rr: RR) -> Any:
    d = rr.data
    match rr.rtype:
        case "A":
            return dnslib.A(d[0])
        case "AAAA":
            return dnslib.AAAA(d[0])
        case "CNAME":
            return dnslib.CNAME(d[0])
        case "PTR":
            return dnslib.PTR(d[0])
        case "NS":
            return dnslib.NS(d[0])
        case "TXT":
            return dnslib.TXT(d[0])
        case "SRV":
            return dnslib.SRV(priority=d[0], weight=d[1], port=d[2], target=d[3])
        case "SOA":
            return dnslib.SOA(d[0], d[1], d[2:])
    raise ValueError(f"no encoding for record type {rr.rtype}")


def _rr(rr: RR) -> dnslib.RR:
    return dnslib.RR(rr.name, getattr(dnslib.QTYPE, rr.rtype), ttl=rr.ttl, rdata=_rdata(rr))


def encode(query: Query, answer: Answer, *, udp: bool) -> bytes:
    """The authoritative reply to `query`; over UDP, one past the client's size limit is
    sent truncated (TC, no records) so the client asks again over TCP."""
    reply = query.record.reply(ra=1, aa=1)
    reply.header.rcode = answer.rcode
    reply.rr = [_rr(rr) for rr in answer.answer]
    reply.auth = [_rr(rr) for rr in answer.authority]
    reply.ar = [_rr(rr) for rr in answer.additional]
    if query.udp_size > UDP_PLAIN:  # the client spoke EDNS: answer with our OPT
        reply.ar.append(dnslib.EDNS0(udp_len=UDP_EDNS_CAP))
    packed = bytes(reply.pack())
    if udp and len(packed) > query.udp_size:
        return truncated_reply(query)
    return packed


def truncated_reply(query: Query) -> bytes:
    """The question alone with TC set: "ask me again over TCP"."""
    reply = query.record.reply(ra=1, aa=0)
    reply.header.tc = 1
    return bytes(reply.pack())


def question(qname: str, qtype: str) -> bytes:
    """A recursive query of our own (following an ExternalName's CNAME)."""
    return bytes(dnslib.DNSRecord.question(qname, qtype).pack())


def followed(query: Query, reply: bytes, target_reply: bytes, *, udp: bool) -> bytes:
    """`reply` (a CNAME) with the answers for its target appended, as a recursive
    server answers; the target's NXDOMAIN is the whole answer's rcode (RFC 6604)."""
    record = dnslib.DNSRecord.parse(reply)
    target = dnslib.DNSRecord.parse(target_reply)
    record.rr += target.rr
    if target.header.rcode:
        record.header.rcode = target.header.rcode
    packed = bytes(record.pack())
    return truncated_reply(query) if udp and len(packed) > query.udp_size else packed


def rcode_of(data: bytes) -> int:
    return data[3] & 0x0F if len(data) >= HEADER else FORMERR
