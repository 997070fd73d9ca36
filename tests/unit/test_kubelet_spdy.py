"""SPDY/3.1 framing and the remotecommand choices made on it, without sockets."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib

import pytest

from agent.kubelet import portforward, spdy
from agent.kubelet.spdy_exec import PROTOCOLS, outcome, wanted


def syn_stream(enc: spdy.HeaderEncoder, stream_id: int, headers: dict[str, list[str]],
               flags: int = 0) -> bytes:
    """What a client (spdystream) sends to open a stream: ids, priority, slot, headers."""
    return spdy.control(spdy.SYN_STREAM, struct.pack(">IIBB", stream_id, 0, 0, 0)
                        + enc.encode(headers), flags)


def test_dictionary_is_the_spdy3_one() -> None:
    # Size and Adler-32 (the DICTID zlib puts in every SPDY/3 header stream).
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_frames_round_trip_when_split_anywhere() -> None:
    wire = (spdy.control(spdy.PING, struct.pack(">I", 7))
            + spdy.data(3, b"hello")
            + spdy.data(3, b"", fin=True)
            + spdy.control(spdy.GOAWAY, struct.pack(">II", 5, 0)))
    dec = spdy.FrameDecoder()
    frames = [f for i in range(len(wire)) for f in dec.feed(wire[i:i + 1])]
    assert frames == [spdy.Control(spdy.PING, 0, struct.pack(">I", 7)),
                      spdy.Data(3, 0, b"hello"), spdy.Data(3, spdy.FLAG_FIN, b""),
                      spdy.Control(spdy.GOAWAY, 0, struct.pack(">II", 5, 0))]
    assert spdy.FrameDecoder().feed(wire) == frames


def test_control_frame_of_another_version_is_refused() -> None:
    frame = struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1"
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.FrameDecoder().feed(frame)


def test_header_blocks_share_one_zlib_context_per_direction() -> None:
    enc, dec = spdy.HeaderEncoder(), spdy.HeaderDecoder()
    blocks = [enc.encode({"streamtype": ["error"]}), enc.encode({"StreamType": ["stdout"]}),
              enc.encode({"a": ["x", "y"], "b": [""]})]
    assert [dec.decode(b) for b in blocks] == [
        {"streamtype": ["error"]}, {"streamtype": ["stdout"]}, {"a": ["x", "y"], "b": [""]}]
    # The second block leans on the first one's history: alone it does not decode.
    with pytest.raises(spdy.SpdyError):
        spdy.HeaderDecoder().decode(blocks[1])


class Peer:
    """A server Connection with what it sent decoded the way a client would read it."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.paused = 0
        self.conn = spdy.Connection(self.sent.extend, self._drain,
                                    lambda: self._pause(1), lambda: self._pause(-1),
                                    max_buffered=100)
        self.enc, self._frames, self._headers = spdy.HeaderEncoder(), spdy.FrameDecoder(), \
            spdy.HeaderDecoder()

    async def _drain(self) -> None:
        await asyncio.sleep(0)

    def _pause(self, delta: int) -> None:
        self.paused += delta

    def received(self) -> list[spdy.Frame]:
        frames = self._frames.feed(bytes(self.sent))
        self.sent.clear()
        return frames

    def reply_headers(self, frame: spdy.Frame) -> dict[str, list[str]]:
        assert isinstance(frame, spdy.Control) and frame.kind == spdy.SYN_REPLY
        return self._headers.decode(frame.payload[4:])


async def test_streams_are_answered_accepted_and_carry_data_both_ways() -> None:
    peer = Peer()
    peer.conn.data_received(syn_stream(peer.enc, 1, {"streamtype": ["error"]})
                            + syn_stream(peer.enc, 3, {"streamtype": ["stdin"]}))
    replies = peer.received()
    assert [struct.unpack(">I", f.payload[:4])[0] for f in replies
            if isinstance(f, spdy.Control)] == [1, 3]
    assert [peer.reply_headers(f) for f in replies] == [{}, {}]
    error, stdin = await peer.conn.accept(), await peer.conn.accept()
    assert error is not None and stdin is not None
    assert (error.type, stdin.type) == ("error", "stdin")
    peer.conn.data_received(spdy.data(3, b"abc") + spdy.data(3, b"def", fin=True))
    assert [await stdin.read(), await stdin.read(), await stdin.read()] == [b"abc", b"def", b""]
    await error.write(b'{"status":"Success"}')
    error.finish()
    error.finish()  # once only
    assert peer.received() == [spdy.Data(1, 0, b'{"status":"Success"}'),
                               spdy.Data(1, spdy.FLAG_FIN, b"")]


async def test_ping_is_echoed_and_goaway_ends_accept() -> None:
    peer = Peer()
    ping = spdy.control(spdy.PING, struct.pack(">I", 1))
    peer.conn.data_received(ping + spdy.control(spdy.SETTINGS, struct.pack(">I", 0))
                            + spdy.control(spdy.WINDOW_UPDATE, struct.pack(">II", 0, 1000)))
    assert peer.received() == [spdy.Control(spdy.PING, 0, struct.pack(">I", 1))]
    peer.conn.data_received(spdy.control(spdy.GOAWAY, struct.pack(">II", 0, 0)))
    assert await peer.conn.accept() is None


async def test_bad_stream_ids_and_unknown_streams_are_reset() -> None:
    peer = Peer()
    peer.conn.data_received(syn_stream(peer.enc, 2, {"streamtype": ["stdout"]})
                            + spdy.data(9, b"x"))
    assert [(f.kind, f.payload) for f in peer.received() if isinstance(f, spdy.Control)] == [
        (spdy.RST_STREAM, struct.pack(">II", 2, spdy.RST_PROTOCOL_ERROR)),
        (spdy.RST_STREAM, struct.pack(">II", 9, spdy.RST_PROTOCOL_ERROR))]


async def test_garbage_header_block_ends_the_connection_with_goaway() -> None:
    peer = Peer()
    peer.conn.data_received(spdy.control(spdy.SYN_STREAM, struct.pack(">IIBB", 1, 0, 0, 0)
                                         + b"not zlib"))
    assert [f.kind for f in peer.received() if isinstance(f, spdy.Control)] == [spdy.GOAWAY]
    assert await peer.conn.accept() is None


async def test_reading_pauses_while_unread_data_piles_up() -> None:
    peer = Peer()
    peer.conn.data_received(syn_stream(peer.enc, 1, {"streamtype": ["stdin"]}))
    stdin = await peer.conn.accept()
    assert stdin is not None
    peer.conn.data_received(spdy.data(1, b"x" * 80) + spdy.data(1, b"y" * 80))
    assert peer.paused == 1
    assert await stdin.read() == b"x" * 80
    assert await stdin.read() == b"y" * 80
    assert peer.paused == 0


async def test_headers_frame_keeps_the_decompressor_in_step() -> None:
    peer = Peer()
    peer.conn.data_received(spdy.control(spdy.HEADERS, struct.pack(">I", 1)
                                         + peer.enc.encode({"x": ["1"]}))
                            + syn_stream(peer.enc, 1, {"streamtype": ["resize"]}))
    stream = await peer.conn.accept()
    assert stream is not None and stream.type == "resize"


@pytest.mark.parametrize(("offered", "chosen"), [
    pytest.param(["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                  "channel.k8s.io"], "v4.channel.k8s.io", id="kubectl-1.20-gets-v4"),
    pytest.param(["v3.channel.k8s.io, v2.channel.k8s.io"], "v3.channel.k8s.io",
                 id="comma-separated"),
    pytest.param(["channel.k8s.io"], None, id="v1-only-is-refused"),
    pytest.param([], None, id="nothing-offered"),
])
def test_protocol_negotiation(offered: list[str], chosen: str | None) -> None:
    assert spdy.negotiate(offered, PROTOCOLS) == chosen


def test_wanted_streams_follow_the_options() -> None:
    assert wanted("v4.channel.k8s.io", stdin=True, stdout=True, stderr=True, tty=False) == {
        "error", "stdin", "stdout", "stderr"}
    assert wanted("v4.channel.k8s.io", stdin=True, stdout=True, stderr=True, tty=True) == {
        "error", "stdin", "stdout", "resize"}
    assert wanted("v2.channel.k8s.io", stdin=False, stdout=True, stderr=False, tty=True) == {
        "error", "stdout"}


def test_outcome_per_protocol() -> None:
    failure = {"status": "Failure", "message": "command terminated", "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}}
    assert json.loads(outcome("v4.channel.k8s.io", failure)) == failure
    assert json.loads(outcome("v4.channel.k8s.io", {"status": "Success"})) == {
        "status": "Success"}
    assert outcome("v3.channel.k8s.io", failure) == b"command terminated"
    assert outcome("v2.channel.k8s.io", {"status": "Success"}) == b""


def _stream(stream_id: int, headers: dict[str, list[str]]) -> spdy.Stream:
    return spdy.Stream(Peer().conn, stream_id, headers)


@pytest.mark.parametrize(("headers", "stream_id", "expected"), [
    pytest.param({"streamtype": ["data"], "requestid": ["7"]}, 5, "7", id="request-id-header"),
    pytest.param({"streamtype": ["error"]}, 1, "1", id="old-client-error-stream"),
    pytest.param({"streamtype": ["data"]}, 3, "1", id="old-client-data-pairs-with-id-minus-2"),
])
async def test_port_forward_pairs_streams(headers: dict[str, list[str]], stream_id: int,
                                          expected: str) -> None:
    assert portforward._request_id(_stream(stream_id, headers)) == expected


@pytest.mark.parametrize(("port", "expected"), [
    (["8080"], 8080), (["0"], None), (["65536"], None), (["-1"], None), (["http"], None),
    ([], None)])
async def test_port_forward_port_header(port: list[str], expected: int | None) -> None:
    assert portforward._port(_stream(1, {"port": port} if port else {})) == expected
