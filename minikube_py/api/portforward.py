"""Port-forward ports as a query carries them: repeated, or comma-separated in one value.
Two readers with Kubernetes' two sets of messages: the api-server converting
PodPortForwardOptions.ports (apimachinery's Convert_Slice_string_To_Slice_int32) and the
kubelet taking its `port` parameters for a WebSocket (portforward.NewV4Options)."""

from __future__ import annotations

import json


def _quoted(value: str) -> str:
    """Go's %q for the strings a query carries."""
    return json.dumps(value, ensure_ascii=False)


def parse_uint16(value: str) -> int:
    """strconv.ParseUint(value, 10, 16), with Go's error text."""
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"strconv.ParseUint: parsing {_quoted(value)}: invalid syntax")
    if int(value) > 0xFFFF:
        raise ValueError(f"strconv.ParseUint: parsing {_quoted(value)}: value out of range")
    return int(value)


def convert_ports(values: list[str]) -> list[int]:
    """The api-server's `ports`: any 16-bit numbers, none at all included (the kubelet
    judges them)."""
    try:
        return [parse_uint16(v) for raw in values for v in raw.split(",")]
    except ValueError as e:
        raise ValueError(f"cannot convert to []int32: {e}") from None


def kubelet_ports(values: list[str]) -> list[int]:
    """The kubelet's `port`s for a WebSocket port-forward, in order; ValueError with the
    kubelet's message (its 400) for a missing, empty, malformed or zero one."""
    if not values:
        raise ValueError('query parameter "port" is required')
    ports = []
    for raw in values:
        if not raw:
            raise ValueError('query parameter "port" cannot be empty')
        for value in raw.split(","):
            try:
                port = parse_uint16(value)
            except ValueError as e:
                raise ValueError(f"unable to parse {_quoted(raw)} as a port: {e}") from None
            if port < 1:
                raise ValueError(f"port {_quoted(raw)} must be > 0")
            ports.append(port)
    return ports
