"""Protobuf request bodies: what kubectl drain really sends, decoded to JSON."""

from __future__ import annotations

import pytest

from minikube_py.api.protobuf import decode

# kubectl 1.32 `drain --grace-period 7`: DELETE pods/x with this body (from -v=9).
DRAIN_DELETE = bytes.fromhex(
    "6b387300" "0a130a027631120d44656c6574654f7074696f6e73" "1202" "0807" "1a00" "2200")


def _envelope(raw: bytes) -> bytes:
    type_meta = b"\x0a\x02v1\x12\x0dDeleteOptions"
    return b"k8s\x00" + b"\x0a" + bytes([len(type_meta)]) + type_meta + b"\x12" + \
        bytes([len(raw)]) + raw


def test_kubectl_drain_body() -> None:
    assert decode(DRAIN_DELETE) == {"apiVersion": "v1", "kind": "DeleteOptions",
                                    "gracePeriodSeconds": 7}


def test_every_delete_option() -> None:
    raw = (b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # gracePeriodSeconds -1
           b"\x12\x0a\x0a\x03abc\x12\x03123"                  # preconditions
           b"\x18\x01"                                        # orphanDependents
           b"\x22\x0aForeground"                              # propagationPolicy
           b"\x2a\x03All")                                    # dryRun
    assert decode(_envelope(raw)) == {
        "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": -1,
        "preconditions": {"uid": "abc", "resourceVersion": "123"}, "orphanDependents": True,
        "propagationPolicy": "Foreground", "dryRun": ["All"]}


@pytest.mark.parametrize("body", [
    pytest.param(b"", id="empty"),
    pytest.param(b"{}", id="json"),
    pytest.param(b"k8s\x00\x0a\x05\x0a\x02v1", id="truncated"),
    pytest.param(b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod", id="other-kind"),
    pytest.param(b"k8s\x00\x0f", id="bad-wire-type"),
    pytest.param(_envelope(b"\x08"), id="truncated-varint"),
])
def test_undecodable_bodies_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode(body)
