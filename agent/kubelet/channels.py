"""Kubernetes' WebSocket stream protocol for exec (v4/v5.channel.k8s.io).

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr,
3 error (the final metav1.Status, carrying the exit code), 4 resize (JSON
{"Width","Height"}). v5 adds a close message: [255, channel] (the client closing its
stdin). Pure helpers, so the framing is tested without sockets.
"""

from __future__ import annotations

import json
from typing import Any

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def frame(channel: int, data: bytes) -> bytes:
    return bytes([channel]) + data


def parse(message: bytes) -> tuple[int, bytes]:
    if not message:
        raise ValueError("empty channel message")
    return message[0], message[1:]


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


def status_frame(status: dict[str, Any]) -> bytes:
    return frame(ERROR, json.dumps(status).encode())


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
