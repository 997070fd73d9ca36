"""What the runtime hands us: CNI_* environment variables and the network config.

Parsing validates everything before anything on the host is touched, so bad
input is an error with the spec's code and no side effect (as loadNetConf and
pkg/skel do in the reference plugins).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cni_plugins.errors import (
    DECODING_FAILURE,
    INCOMPATIBLE_VERSION,
    INVALID_ENVIRONMENT,
    INVALID_NETWORK_CONFIG,
    CniError,
)

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = SUPPORTED_VERSIONS[-1]
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
IPAM_TYPE = "mkp-local"
DEFAULT_DATA_DIR = "/var/lib/cni/networks"
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
_BAD_IFNAME = re.compile(r"[/:\s]")


@dataclass(frozen=True)
class Env:
    """The CNI_* variables of one invocation."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: dict[str, str] = field(default_factory=dict)


def parse_env(env: Mapping[str, str]) -> Env:
    """Validate the variables the command needs (spec: code 4 when one is missing)."""
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(INVALID_ENVIRONMENT, f"unknown or missing CNI_COMMAND {command!r}",
                       f"expected one of {', '.join(COMMANDS)}")
    need = {"ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
            "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
            "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH")}.get(command, ())
    missing = [name for name in need if not env.get(name)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, f"required env variables [{','.join(missing)}] missing")
    container_id = env.get("CNI_CONTAINERID", "")
    if container_id and not _NAME_RE.match(container_id):
        raise CniError(INVALID_ENVIRONMENT, "invalid characters in CNI_CONTAINERID",
                       container_id)
    ifname = env.get("CNI_IFNAME", "")
    if ifname and (len(ifname) > 15 or _BAD_IFNAME.search(ifname) or ifname in (".", "..")):
        raise CniError(INVALID_ENVIRONMENT, f"invalid CNI_IFNAME {ifname!r}",
                       "at most 15 characters, no '/', ':' or whitespace")
    args: dict[str, str] = {}
    for pair in filter(None, env.get("CNI_ARGS", "").split(";")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise CniError(INVALID_ENVIRONMENT, f"invalid CNI_ARGS pair {pair!r}")
        args[key] = value
    return Env(command, container_id, env.get("CNI_NETNS", ""), ifname, args)


@dataclass(frozen=True)
class Route:
    dst: ipaddress.IPv4Network
    gw: ipaddress.IPv4Address | None = None


@dataclass(frozen=True)
class NetConf:
    """The plugin's network configuration with defaults applied."""

    cni_version: str
    name: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    range_start: ipaddress.IPv4Address
    range_end: ipaddress.IPv4Address
    routes: tuple[Route, ...]
    data_dir: str
    bridge: str = "cni0"
    mtu: int = 1450
    hairpin: bool = True
    dns: dict[str, Any] | None = None
    prev_result: dict[str, Any] | None = None
    valid_attachments: tuple[tuple[str, str], ...] | None = None


def decode(stdin: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(stdin)
    except ValueError as e:
        raise CniError(DECODING_FAILURE, "failed to decode network configuration", str(e)) from e
    if not isinstance(raw, dict):
        raise CniError(DECODING_FAILURE, "network configuration must be a JSON object")
    return raw


def check_version(raw: Mapping[str, Any]) -> str:
    version = raw.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CniError(INVALID_NETWORK_CONFIG, "cniVersion is required")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(INCOMPATIBLE_VERSION, f"incompatible CNI versions; config is {version!r}, "
                       f"plugin supports {list(SUPPORTED_VERSIONS)}")
    return version


def _invalid(field_name: str, problem: str) -> CniError:
    return CniError(INVALID_NETWORK_CONFIG, f"invalid network configuration: {field_name}: {problem}")


def _address(value: Any, field_name: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except (ValueError, TypeError) as e:
        raise _invalid(field_name, f"{value!r} is not an IPv4 address") from e


def _routes(value: Any) -> tuple[Route, ...]:
    if not isinstance(value, list):
        raise _invalid("ipam.routes", "must be a list")
    out = []
    for i, item in enumerate(value):
        try:
            dst = ipaddress.IPv4Network(item["dst"])
        except (ValueError, TypeError, KeyError) as e:
            raise _invalid(f"ipam.routes[{i}].dst", f"{item!r} has no IPv4 CIDR dst") from e
        gw = _address(item["gw"], f"ipam.routes[{i}].gw") if item.get("gw") else None
        out.append(Route(dst, gw))
    return tuple(out)


def _attachments(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    value = raw.get("cni.dev/valid-attachments")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
            isinstance(a, dict) and isinstance(a.get("containerID"), str)
            and isinstance(a.get("ifname"), str) for a in value):
        raise _invalid("cni.dev/valid-attachments", "must be a list of {containerID, ifname}")
    return tuple((a["containerID"], a["ifname"]) for a in value)


def _ipam(raw: Mapping[str, Any]) -> dict[str, Any]:
    ipam = raw.get("ipam")
    if not isinstance(ipam, dict):
        raise _invalid("ipam", "is required")
    if ipam.get("type") != IPAM_TYPE:
        raise _invalid("ipam.type", f"{ipam.get('type')!r} is not supported; "
                       f"this plugin has the built-in host-local IPAM {IPAM_TYPE!r}")
    return ipam


def parse_netconf(raw: Mapping[str, Any]) -> NetConf:
    """Validate and default the config (the runtime already decoded it)."""
    version = check_version(raw)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _invalid("name", f"{name!r} must match {_NAME_RE.pattern}")
    if not isinstance(raw.get("type"), str):
        raise _invalid("type", "is required")
    ipam = _ipam(raw)
    try:
        subnet = ipaddress.IPv4Network(ipam.get("subnet"))
    except (ValueError, TypeError) as e:
        raise _invalid("ipam.subnet", f"{ipam.get('subnet')!r} is not an IPv4 CIDR") from e
    if subnet.num_addresses < 4:
        raise _invalid("ipam.subnet", "must hold at least two hosts (prefix <= /30)")
    hosts_first, hosts_last = subnet[1], subnet[-2]
    gateway = _address(ipam.get("gateway", str(hosts_first)), "ipam.gateway")
    start = _address(ipam.get("rangeStart", str(hosts_first)), "ipam.rangeStart")
    end = _address(ipam.get("rangeEnd", str(hosts_last)), "ipam.rangeEnd")
    for label, addr in (("ipam.gateway", gateway), ("ipam.rangeStart", start),
                        ("ipam.rangeEnd", end)):
        if not hosts_first <= addr <= hosts_last:
            raise _invalid(label, f"{addr} is not a host address of {subnet}")
    if start > end:
        raise _invalid("ipam.rangeStart", f"{start} is after rangeEnd {end}")
    mtu = raw.get("mtu", 1450)
    if not isinstance(mtu, int) or isinstance(mtu, bool) or not 576 <= mtu <= 65535:
        raise _invalid("mtu", f"{mtu!r} must be an integer in 576..65535")
    bridge = raw.get("bridge", "cni0")
    if not isinstance(bridge, str) or not 0 < len(bridge) <= 15 or _BAD_IFNAME.search(bridge):
        raise _invalid("bridge", f"{bridge!r} is not an interface name")
    data_dir = ipam.get("dataDir", DEFAULT_DATA_DIR)
    if not isinstance(data_dir, str) or not data_dir.startswith("/"):
        raise _invalid("ipam.dataDir", "must be an absolute path")
    dns = raw.get("dns")
    if dns is not None and not isinstance(dns, dict):
        raise _invalid("dns", "must be an object")
    prev = raw.get("prevResult")
    if prev is not None and not isinstance(prev, dict):
        raise _invalid("prevResult", "must be an object")
    return NetConf(
        cni_version=version, name=name, subnet=subnet, gateway=gateway, range_start=start,
        range_end=end, routes=_routes(ipam.get("routes", [{"dst": "0.0.0.0/0"}])),
        data_dir=data_dir, bridge=bridge, mtu=mtu, hairpin=bool(raw.get("hairpinMode", True)),
        dns=dns or None, prev_result=prev, valid_attachments=_attachments(raw))
