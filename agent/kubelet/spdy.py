"""SPDY/3.1 framing, the server side of it: what kubectl before 1.30 streams exec over.

A SPDY connection multiplexes streams over one socket. Frames are either control
frames (8-byte header: control bit + version 3, type, flags, 24-bit length) or data
frames (31-bit stream id, flags, 24-bit length). Header blocks in SYN_STREAM,
SYN_REPLY and HEADERS are zlib-compressed with a preset dictionary, and the zlib
context is shared by every block sent in one direction for the whole connection
(each block ends in a sync flush), so every header block must be decompressed, in
order, even the ones we do not care about. Flow control (WINDOW_UPDATE) is not
enforced by spdystream, the peer kubectl uses, so it is read and ignored here.

`Connection` is sans-IO: feed it bytes (`data_received`), it calls `send` with
the frames to send; streams opened by the peer are answered with SYN_REPLY at
once (spdystream's CreateStream waits for that reply) and queued for `accept`.
`upgrade()` seats one on an aiohttp request after answering 101.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_CANCEL = 1, 5
MAX_FRAME = (1 << 24) - 1

# The SPDY/3 header dictionary (draft 3, section 2.6.10.1): length-prefixed words
# followed by a tail of common values. 1423 bytes; zlib checks its Adler-32.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding "
    "accept-language accept-ranges age allow authorization cache-control connection "
    "content-base content-encoding content-language content-length content-location "
    "content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status 200\0OK version HTTP/1.1 url public set-cookie "
    "keep-alive origin")
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset="
    "iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(len(w).to_bytes(4, "big") + w.replace("\0", " ").encode()
                      for w in _WORDS.split()) + _TAIL.encode()

Headers = dict[str, list[str]]


class SpdyError(Exception):
    """The peer broke the protocol; the connection cannot continue."""


@dataclass(frozen=True, slots=True)
class Control:
    kind: int
    flags: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    flags: int
    data: bytes


Frame = Control | Data


def control(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


def data(stream_id: int, payload: bytes, *, fin: bool = False) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"data frame too large: {len(payload)} bytes")
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       (FLAG_FIN if fin else 0) << 24 | len(payload)) + payload


class FrameDecoder:
    """Bytes in, whole frames out (frames may arrive split or several per read)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buf += chunk
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf)
            length = second & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise SpdyError(f"unsupported SPDY version {version}")
                frames.append(Control(first & 0xFFFF, second >> 24, payload))
            else:
                frames.append(Data(first & 0x7FFFFFFF, second >> 24, payload))
        return frames


class HeaderEncoder:
    """One direction's header compression: a single zlib stream for the connection."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    def encode(self, headers: Mapping[str, Sequence[str]]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, values in headers.items():
            n, v = name.lower().encode(), "\0".join(values).encode()
            raw += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._z.compress(bytes(raw)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecoder:
    def __init__(self) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)

    def decode(self, block: bytes) -> Headers:
        try:
            raw = self._z.decompress(block)
        except zlib.error as e:
            raise SpdyError(f"bad header block: {e}") from None
        try:
            (count,), pos = struct.unpack_from(">I", raw), 4
            headers: Headers = {}
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + n].decode()
                pos += 4 + n
                (v,) = struct.unpack_from(">I", raw, pos)
                headers.setdefault(name.lower(), []).extend(
                    raw[pos + 4:pos + 4 + v].decode().split("\0"))
                pos += 4 + v
        except (struct.error, UnicodeDecodeError) as e:
            raise SpdyError(f"bad header block: {e}") from None
        return headers


def _stream_id(payload: bytes) -> int:
    if len(payload) < 4:
        raise SpdyError("control frame too short")
    return int.from_bytes(payload[:4], "big") & 0x7FFFFFFF


class Stream:
    """One peer-opened stream: its headers, inbound data until FIN, and our half."""

    def __init__(self, conn: Connection, stream_id: int, headers: Headers) -> None:
        self.conn, self.id, self.headers = conn, stream_id, headers
        self._inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = self.local_closed = False

    @property
    def type(self) -> str:
        return (self.headers.get("streamtype") or [""])[0]

    async def read(self) -> bytes:
        """The next chunk the peer sent; b"" once it finished (FIN) or reset the stream."""
        chunk = await self._inbound.get()
        self.conn.consumed(len(chunk))
        return chunk

    async def write(self, payload: bytes) -> None:
        if self.local_closed:
            return
        for i in range(0, len(payload), 1 << 16):
            self.conn.send(data(self.id, payload[i:i + (1 << 16)]))
        await self.conn.drain()

    def finish(self) -> None:
        """Half-close our side (DATA with FIN); the peer reads EOF."""
        if not self.local_closed:
            self.local_closed = True
            self.conn.send(data(self.id, b"", fin=True))

    def _received(self, payload: bytes, fin: bool) -> None:
        if self.remote_closed:
            return
        if payload:
            self._inbound.put_nowait(payload)
        if fin:
            self.remote_closed = True
            self._inbound.put_nowait(b"")


class Connection:
    """The server end of one SPDY/3.1 connection.

    `send(frame_bytes)` writes to the transport; `drain()` waits while its buffer is
    full; `pause`/`resume` stop reading the transport while the peer's unread data
    exceeds `max_buffered` (a client piping a big file into stdin).
    """

    def __init__(self, send: Callable[[bytes], None], drain: Callable[[], Awaitable[None]],
                 pause: Callable[[], None] = lambda: None,
                 resume: Callable[[], None] = lambda: None, *,
                 max_buffered: int = 1 << 20) -> None:
        self.send, self.drain, self._pause, self._resume = send, drain, pause, resume
        self.max_buffered, self._buffered, self._paused = max_buffered, 0, False
        self._decoder, self._headers_in, self._headers_out = (
            FrameDecoder(), HeaderDecoder(), HeaderEncoder())
        self.streams: dict[int, Stream] = {}
        self._new: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._last_stream = 0
        self.closed = False

    def data_received(self, chunk: bytes) -> None:
        """Bytes from the peer; a protocol error ends the connection (GOAWAY)."""
        if self.closed:
            return
        try:
            for frame in self._decoder.feed(chunk):
                self._handle(frame)
        except SpdyError as e:
            log.warning("spdy protocol error err=%s", e)
            self.close(status=1)

    def eof_received(self) -> None:
        for stream in self.streams.values():
            stream._received(b"", True)
        self.closed = True
        self._new.put_nowait(None)

    async def accept(self) -> Stream | None:
        """The next stream the peer opened; None once the connection is gone."""
        return await self._new.get()

    def consumed(self, n: int) -> None:
        self._buffered -= n
        if self._paused and self._buffered < self.max_buffered // 2:
            self._paused = False
            self._resume()

    def close(self, status: int = 0) -> None:
        """GOAWAY (0 = OK); every stream we still hold reads EOF."""
        if not self.closed:
            self.send(control(GOAWAY, struct.pack(">II", self._last_stream, status)))
            self.eof_received()

    def _handle(self, frame: Frame) -> None:
        if isinstance(frame, Data):
            stream = self.streams.get(frame.stream_id)
            if stream is None:
                self.send(control(RST_STREAM, struct.pack(">II", frame.stream_id,
                                                          RST_PROTOCOL_ERROR)))
                return
            self._buffered += len(frame.data)
            if not self._paused and self._buffered > self.max_buffered:
                self._paused = True
                self._pause()
            stream._received(frame.data, bool(frame.flags & FLAG_FIN))
            return
        kind, payload = frame.kind, frame.payload
        if kind == SYN_STREAM:
            self._open(_stream_id(payload), frame.flags,
                       self._headers_in.decode(payload[10:]))
        elif kind == HEADERS:
            self._headers_in.decode(payload[4:])  # keeps the zlib context in step
        elif kind == RST_STREAM:
            stream = self.streams.get(_stream_id(payload))
            if stream is not None:
                stream.local_closed = True
                stream._received(b"", True)
        elif kind == PING:
            self.send(control(PING, payload))  # the client's (odd) ids are echoed back
        elif kind == GOAWAY:
            self.eof_received()
        # SETTINGS, WINDOW_UPDATE: nothing to do (no flow control, see the docstring)

    def _open(self, stream_id: int, flags: int, headers: Headers) -> None:
        if stream_id % 2 == 0 or stream_id <= self._last_stream:
            self.send(control(RST_STREAM, struct.pack(">II", stream_id, RST_PROTOCOL_ERROR)))
            return
        self._last_stream = stream_id
        stream = Stream(self, stream_id, headers)
        self.streams[stream_id] = stream
        self.send(control(SYN_REPLY, struct.pack(">I", stream_id)
                          + self._headers_out.encode({})))
        if flags & FLAG_FIN:
            stream._received(b"", True)
        log.debug("spdy stream opened id=%d type=%s", stream_id, stream.type)
        self._new.put_nowait(stream)


class _Feed:
    """Takes aiohttp's payload-parser seat, so bytes after the 101 reach the SPDY
    connection (aiohttp itself only switches protocols for WebSocket)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.conn.data_received(data)
        return False, b""

    def feed_eof(self) -> None:
        self.conn.eof_received()


def negotiate(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The client's first choice (it lists them by preference) that we serve."""
    names = [p.strip() for value in offered for p in value.split(",")]
    return next((p for p in names if p in supported), None)


async def upgrade(request: web.Request, supported: Sequence[str]
                  ) -> tuple[Connection, web.StreamResponse, str]:
    """Answer 101 with the negotiated X-Stream-Protocol-Version (403 if there is none,
    as the kubelet) and hand the connection's bytes to a SPDY server connection."""
    offered = request.headers.getall("X-Stream-Protocol-Version", [])
    protocol = negotiate(offered, supported)
    if protocol is None:
        raise web.HTTPForbidden(text=f"unable to upgrade: unable to negotiate protocol: client "
                                     f"supports {offered}, server supports {list(supported)}")
    transport, handler = request.transport, request.protocol
    if transport is None:
        raise ConnectionResetError("client went away")

    def send(frame: bytes) -> None:
        if not transport.is_closing():
            transport.write(frame)

    conn = Connection(send, handler._drain_helper,  # aiohttp's writers drain this way
                      transport.pause_reading, transport.resume_reading)
    handler.set_parser(_Feed(conn))  # type: ignore[arg-type]
    response = web.StreamResponse(status=101, headers={
        "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol})
    await response.prepare(request)
    return conn, response, protocol
