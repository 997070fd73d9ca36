"""A node's dataplane as it is, read for `minikube-py trace`; and one real probe.

Read-only: links (with their bridge master), IPv4 addresses and main-table routes,
neighbours and FDB entries (the overlay's), ipset members, iptables-save with counters,
and, inside given pod namespaces, the pod's eth0 and the host-side veth it pairs with.
`probe` sends one TCP SYN (a connect) from a pod's namespace and returns the source port
it used, so the conntrack entry it made can be found.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

from cni_plugins.iptables_runner import Backend
from cni_plugins.nsutil import entered, new_iproute

AF_BRIDGE = 7
MAIN_TABLE = 254
PROBE_TIMEOUT = 3.0


def snapshot(backends: list[Backend], pods: dict[str, str]) -> dict[str, Any]:
    """Everything trace reads on this node; `pods` maps "ns/name" to its netns path.
    Rules are saved from each backend (iptables-legacy and -nft tables both see every
    packet, and the proxy and the host's firewall may use different ones)."""
    with new_iproute() as ipr:
        links = {msg["index"]: msg for msg in ipr.get_links()}
        names = {i: m.get_attr("IFLA_IFNAME") for i, m in links.items()}
        state: dict[str, Any] = {
            "links": [{"index": i, "name": names[i], "kind": _kind(m),
                       "master": names.get(m.get_attr("IFLA_MASTER") or 0, ""),
                       "mac": m.get_attr("IFLA_ADDRESS") or ""} for i, m in links.items()],
            "addresses": [{"dev": names.get(a["index"], ""),
                           "address": a.get_attr("IFA_ADDRESS"), "prefixlen": a["prefixlen"]}
                          for a in ipr.get_addr(family=socket.AF_INET)],
            "routes": [_route(r, names) for r in ipr.get_routes(family=socket.AF_INET,
                                                                  table=MAIN_TABLE)],
            "neighbours": [{"dev": names.get(n["ifindex"], ""), "ip": n.get_attr("NDA_DST"),
                            "mac": n.get_attr("NDA_LLADDR") or "", "state": n["state"]}
                           for n in ipr.get_neighbours(family=socket.AF_INET)],
            "fdb": [{"dev": names.get(n["ifindex"], ""), "mac": n.get_attr("NDA_LLADDR"),
                     "dst": n.get_attr("NDA_DST") or ""}
                    for n in ipr.get_neighbours(family=AF_BRIDGE) if n.get_attr("NDA_DST")],
        }
    state["pods"] = {key: _pod_side(path) for key, path in pods.items()}
    state["iptables"] = {b.mode: b.save_sync(counters=True) for b in backends}
    state["ipsets"] = ipsets()
    return state


def _kind(msg: Any) -> str:
    info = msg.get_attr("IFLA_LINKINFO")
    return str(info.get_attr("IFLA_INFO_KIND") or "") if info else ""


def _route(r: Any, names: dict[int, str]) -> dict[str, Any]:
    dst = r.get_attr("RTA_DST")
    return {"dst": f"{dst}/{r['dst_len']}" if dst else "0.0.0.0/0",
            "gateway": r.get_attr("RTA_GATEWAY") or "", "dev": names.get(r.get_attr("RTA_OIF"), ""),
            "prefsrc": r.get_attr("RTA_PREFSRC") or "", "onlink": bool(r["flags"] & 0x04)}


def _pod_side(path: str) -> dict[str, Any]:
    """The pod's eth0 (address, MAC) and the host ifindex of its veth peer."""
    try:
        with entered(path):
            ipr = new_iproute()
    except OSError as e:
        return {"error": f"cannot enter {path}: {e.strerror}"}
    with ipr:
        found = ipr.link_lookup(ifname="eth0")
        if not found:
            return {"error": "the pod has no eth0"}
        link = ipr.link("get", index=found[0])[0]
        addrs = ipr.get_addr(family=socket.AF_INET, index=found[0])
        return {"ip": addrs[0].get_attr("IFA_ADDRESS") if addrs else "",
                "mac": link.get_attr("IFLA_ADDRESS") or "",
                "peer_index": link.get_attr("IFLA_LINK") or 0}


def pod_address(path: str) -> str:
    """The pod's eth0 IPv4 address ("" if it has none)."""
    return str(_pod_side(path).get("ip") or "")


def ipsets() -> dict[str, list[str]]:
    """Every ipset's entries as `ipset save` writes them after the set's name: the member,
    then its flags ("10.96.0.0/12 nomatch": an ipBlock's `except`, which the kernel
    matches as not in the set); {} where ipset is not installed."""
    if shutil.which("ipset") is None:
        return {}
    proc = subprocess.run(["ipset", "save"], capture_output=True, text=True, check=False,
                          timeout=30)
    sets: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[:1] == ["create"] and len(words) > 1:
            sets.setdefault(words[1], [])
        elif words[:1] == ["add"] and len(words) > 2:
            sets.setdefault(words[1], []).append(" ".join(words[2:]))
    return sets


@dataclass(frozen=True)
class ProbeResult:
    sport: int
    outcome: str  # "connected", "refused", "timed out", or the error


def probe(netns: str, dst: str, port: int, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """One TCP connect from inside `netns` to dst:port (a real SYN through the rules)."""
    ipaddress.IPv4Address(dst)  # an address, never a name or an option
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    with entered(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.bind(("0.0.0.0", 0))
        sport = sock.getsockname()[1]
        sock.settimeout(timeout)
        try:
            sock.connect((dst, port))
            outcome = "connected"
        except ConnectionRefusedError:
            outcome = "refused"
        except TimeoutError:
            outcome = "timed out"
        except OSError as e:
            outcome = e.strerror or str(e)
    return ProbeResult(sport, outcome)


def conntrack(proto: str, src: str, sport: int) -> list[str]:
    """The conntrack entries of one flow (by original source), as `conntrack -L` prints."""
    ipaddress.IPv4Address(src)
    if proto not in ("tcp", "udp") or shutil.which("conntrack") is None:
        return []
    proc = subprocess.run(["conntrack", "-L", "-p", proto, "--orig-src", src,
                           "--orig-port-src", str(sport)],
                          capture_output=True, text=True, check=False, timeout=30)
    return [line for line in proc.stdout.splitlines() if line.strip()]
