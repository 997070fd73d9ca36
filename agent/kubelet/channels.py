"""Kubernetes' WebSocket stream protocol for exec (v4/v5.channel.k8s.io).

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr,
3 error (the final metav1.Status, carrying the exit code), 4 resize (JSON
{"Width","Height"}). v5 adds a close message: [255, channel] (the client closing its
stdin). v4.base64.channel.k8s.io, for clients that cannot send binary messages
(browsers' terminals), sends text messages instead: the channel as an ASCII digit,
then the data in base64 (apimachinery's wsstream base64Codec). Pure helpers, so the
framing is tested without sockets.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Protocol

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, BASE64 = "v5.channel.k8s.io", "v4.base64.channel.k8s.io"
PROTOCOLS = (V5, "v4.channel.k8s.io", BASE64)


def frame(channel: int, data: bytes) -> bytes:
    return bytes([channel]) + data


def parse(message: bytes) -> tuple[int, bytes]:
    if not message:
        raise ValueError("empty channel message")
    return message[0], message[1:]


def encode(channel: int, data: bytes, *, base64_text: bool) -> bytes | str:
    """One message of `channel`: binary, or the base64 protocol's text."""
    if base64_text:
        return chr(ord("0") + channel) + base64.b64encode(data).decode()
    return frame(channel, data)


class MessageSocket(Protocol):
    """What a frame is sent on (aiohttp's WebSocketResponse)."""

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_str(self, data: str) -> None: ...


async def send(ws: MessageSocket, message: bytes | str) -> None:
    """One encoded message: binary, or text under the base64 protocol."""
    await (ws.send_str(message) if isinstance(message, str) else ws.send_bytes(message))


def decode(message: bytes | str, *, base64_text: bool) -> tuple[int, bytes]:
    """(channel, data) of a client's message; ValueError for one that is not framed.
    Without base64, a text message is taken as bytes (the Python client writes stdin so)."""
    raw = message.encode() if isinstance(message, str) else message
    if not base64_text:
        return parse(raw)
    channel, text = parse(raw)
    try:
        return channel - ord("0"), base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise ValueError(f"channel {chr(channel)!r}: not base64: {e}") from None


SUCCESS: dict[str, Any] = {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    """The error-channel Status kubectl turns into its own exit code."""
    if code == 0:
        return SUCCESS
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[...], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}


def status_frame(status: dict[str, Any], *, base64_text: bool = False) -> bytes | str:
    return encode(ERROR, json.dumps(status).encode(), base64_text=base64_text)


class DockerDemux:
    """Docker's multiplexed attach stream (8-byte headers) -> (stream, payload) pairs."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= 8:
            size = int.from_bytes(self._buf[4:8], "big")
            if len(self._buf) < 8 + size:
                break
            out.append((self._buf[0], self._buf[8:8 + size]))
            self._buf = self._buf[8 + size:]
        return out
