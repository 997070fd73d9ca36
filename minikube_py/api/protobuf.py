"""The few Kubernetes protobuf bodies clients send us, decoded to their JSON form.

client-go's typed clients send some requests as `application/vnd.kubernetes.protobuf`
whatever the server prefers; `kubectl drain`, for one, deletes each pod with a
protobuf DeleteOptions body. The envelope is the magic "k8s\\0" followed by a
runtime.Unknown {typeMeta, raw}; `raw` is the message itself
(apimachinery's generated.proto). We decode DeleteOptions here, the objects
`kubectl create` sends in protobuf_objects, and refuse the rest with a ValueError
the server turns into 415.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of one message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == _BYTES:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated length-delimited field")
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > len(data):
                raise ValueError("truncated fixed-width field")
            yield number, wire, data[pos:pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ValueError("expected a string field")  # noqa: TRY004 - malformed input
    return value.decode()


def _signed(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ValueError("expected a varint field")  # noqa: TRY004 - malformed input
    return value - (1 << 64) if value >= 1 << 63 else value


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw message) of an enveloped protobuf body."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body (missing k8s\\0 prefix)")
    api_version = kind = ""
    raw = b""
    for number, _, value in fields(body[len(MAGIC):]):
        if number == 1 and isinstance(value, bytes):
            for inner, _, item in fields(value):
                if inner == 1:
                    api_version = _text(item)
                elif inner == 2:
                    kind = _text(item)
        elif number == 2 and isinstance(value, bytes):
            raw = value
    return api_version, kind, raw


def decode_delete_options(raw: bytes) -> dict[str, Any]:
    """meta/v1 DeleteOptions as the JSON object a client would have sent."""
    options: dict[str, Any] = {}
    for number, _, value in fields(raw):
        if number == 1:
            options["gracePeriodSeconds"] = _signed(value)
        elif number == 2 and isinstance(value, bytes):
            preconditions = {}
            for inner, _, item in fields(value):
                if inner == 1:
                    preconditions["uid"] = _text(item)
                elif inner == 2:
                    preconditions["resourceVersion"] = _text(item)
            options["preconditions"] = preconditions
        elif number == 3:
            options["orphanDependents"] = bool(_signed(value))
        elif number == 4:
            options["propagationPolicy"] = _text(value)
        elif number == 5:
            options.setdefault("dryRun", []).append(_text(value))
    return options


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf request body; ValueError for kinds we do not decode."""
    api_version, kind, raw = unwrap(body)
    if kind == "DeleteOptions":
        return {"apiVersion": api_version or "v1", "kind": kind, **decode_delete_options(raw)}
    from minikube_py.api import protobuf_objects  # it imports this module's `fields`
    table = protobuf_objects.VERSIONED_KINDS.get((api_version, kind)) or \
        protobuf_objects.KINDS.get(kind)
    if table is not None:
        return {"apiVersion": api_version, "kind": kind,
                **protobuf_objects.decode_message(table, raw)}
    raise ValueError(f"protobuf bodies of kind {kind or '<unknown>'} are not supported; "
                     "send application/json")
