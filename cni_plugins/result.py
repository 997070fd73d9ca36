"""CNI Result JSON, built once in the current shape and converted per version.

The commands build a 1.x result; `convert` rewrites it for the version the
runtime asked for (0.3.x/0.4.0 carry "version" on each IP; only 1.1.0 has
interface "mtu"), and `normalize` reads a prevResult of any supported version
back into the 1.x shape.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

Result = dict[str, Any]
_LEGACY = ("0.3.0", "0.3.1", "0.4.0")


def convert(result: Result, version: str) -> Result:
    out = copy.deepcopy(result)
    out["cniVersion"] = version
    for ip in out.get("ips", []):
        if version in _LEGACY:
            ip["version"] = str(ipaddress.ip_interface(ip["address"]).version)
        else:
            ip.pop("version", None)
    if version != "1.1.0":
        for iface in out.get("interfaces", []):
            iface.pop("mtu", None)
    if not out.get("dns"):
        out.pop("dns", None)
    return out


def normalize(prev: Result) -> Result:
    out = copy.deepcopy(prev)
    out.setdefault("interfaces", [])
    out.setdefault("ips", [])
    out.setdefault("routes", [])
    for ip in out["ips"]:
        ip.pop("version", None)
    return out


def merge(prev: Result | None, ours: Result) -> Result:
    """Append our interfaces, IPs and routes to a previous plugin's result.

    Our IPs point at our interfaces by index, so they shift by the number of
    interfaces already listed.
    """
    if not prev:
        return ours
    out = normalize(prev)
    offset = len(out["interfaces"])
    out["interfaces"].extend(ours["interfaces"])
    for ip in ours["ips"]:
        out["ips"].append({**ip, "interface": ip["interface"] + offset})
    out["routes"].extend(ours["routes"])
    if ours.get("dns"):
        out["dns"] = ours["dns"]
    return out


def container_ips(prev: Result, ifname: str, sandbox: str) -> list[dict[str, Any]]:
    """The IPs a result assigns to the container interface `ifname` (for CHECK)."""
    indexes = {i for i, iface in enumerate(prev.get("interfaces", []))
               if iface.get("name") == ifname and iface.get("sandbox") == sandbox}
    return [ip for ip in prev.get("ips", []) if ip.get("interface") in indexes]
