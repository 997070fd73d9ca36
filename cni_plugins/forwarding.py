"""Forwarding for pod traffic: ip_forward, FORWARD accepts, masquerade off-cluster.

Docker sets the FORWARD policy to DROP, so pod traffic must be accepted
explicitly (both directions of the cluster CIDR) or it silently vanishes.
Pod traffic leaving the cluster CIDR is masqueraded; pod-to-pod is not, so
pods see each other's real addresses. Our rules live in our own chains
(MKP-FORWARD, MKP-POSTROUTING; the proxy owns KUBE-*), written in one
`iptables-restore --noflush` (declaring a chain there flushes it, so a resync
replaces the rules atomically); the jumps from the built-in chains are added
only when missing. They go to the host's own backend (iptables_runner.firewall):
an ACCEPT helps only in the backend that holds Docker's DROP policy.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from cni_plugins.iptables_runner import firewall

log = logging.getLogger(__name__)

FORWARD_CHAIN = "MKP-FORWARD"
NAT_CHAIN = "MKP-POSTROUTING"
_JUMPS = (("filter", "FORWARD", FORWARD_CHAIN), ("nat", "POSTROUTING", NAT_CHAIN))
Jump = tuple[str, str, str]  # (table, built-in chain, our chain it jumps to)


def _jump(chain: str, target: str) -> str:
    return f"-A {chain} -j {target}"


def rules(cluster_cidr: ipaddress.IPv4Network, saved: dict[str, str]) -> str:
    """The restore text; `saved` is iptables-save per table, to add jumps only once."""
    cidr = str(cluster_cidr)
    out = ["*filter", f":{FORWARD_CHAIN} - [0:0]"]
    if _jump("FORWARD", FORWARD_CHAIN) not in saved["filter"].splitlines():
        out.append(f"-I FORWARD 1 -j {FORWARD_CHAIN}")
    out += [f'-A {FORWARD_CHAIN} -s {cidr} -m comment --comment "pod traffic out" -j ACCEPT',
            f'-A {FORWARD_CHAIN} -d {cidr} -m comment --comment "pod traffic in" -j ACCEPT',
            "COMMIT", "*nat", f":{NAT_CHAIN} - [0:0]"]
    if _jump("POSTROUTING", NAT_CHAIN) not in saved["nat"].splitlines():
        out.append(f"-I POSTROUTING 1 -j {NAT_CHAIN}")
    out += [f'-A {NAT_CHAIN} -s {cidr} -d {cidr} -m comment --comment "pod to pod" -j RETURN',
            (f"-A {NAT_CHAIN} -s {cidr} ! -d 224.0.0.0/4 -m comment "
             f'--comment "pods leaving the cluster" -j MASQUERADE --random-fully'),
            "COMMIT", ""]
    return "\n".join(out)


IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def enable_ip_forward(path: str = IP_FORWARD) -> None:
    """Turn forwarding on unless it is on: read first, so a host whose /proc/sys is
    read-only (a container running systemd as its host, a hardened host) but forwards
    already is fine; one that does not gets the write's error."""
    with open(path) as f:
        if f.read(1) == "1":
            return
    with open(path, "w") as f:
        f.write("1")


def in_place(text: str, saved: dict[str, str]) -> bool:
    """Whether every rule of `text` is already there (so a resync writes nothing)."""
    have = set(saved["filter"].splitlines()) | set(saved["nat"].splitlines())
    lines = text.splitlines()
    return not any(line.startswith("-I ") for line in lines) and all(
        line in have for line in lines if line.startswith("-A "))


def ensure(cluster_cidr: ipaddress.IPv4Network) -> bool:
    """Apply forwarding and masquerade for the cluster CIDR; True if anything was missing.

    Cheap enough to call on every resync: it restores only when a rule is gone
    (someone flushed the tables, dockerd restarted).
    """
    enable_ip_forward()
    runner = firewall()
    saved = {"filter": runner.save_sync("filter"), "nat": runner.save_sync("nat")}
    text = rules(cluster_cidr, saved)
    if in_place(text, saved):
        return False
    runner.restore_sync(text)
    return True


def remove_chains(jumps: Iterable[Jump]) -> None:
    """Remove chains of ours and every jump to them, in one restore; absent ones are done."""
    runner, out = firewall(), []
    for table, builtin, chain in jumps:
        saved = runner.save_sync(table)
        out.append(f"*{table}")
        if f":{chain} " in saved:
            out += [f"-D {builtin} -j {chain}"] * saved.splitlines().count(_jump(builtin, chain))
            out += [f"-F {chain}", f"-X {chain}"]
        out.append("COMMIT")
    runner.restore_sync("\n".join(out) + "\n")


def has_chain(table: str, chain: str) -> bool:
    """Whether `chain` exists in the host backend's `table` (for leftover reports)."""
    return f":{chain} " in firewall().save_sync(table)


def accept_bridged(bridge: str, chain: str) -> None:
    """`chain`, jumped to first from FORWARD, accepting frames that stay on `bridge`
    (bridged frames pass iptables with br_netfilter, and Docker's policy is DROP);
    an earlier run's chain and jumps are replaced."""
    remove_chains([("filter", "FORWARD", chain)])
    firewall().restore_sync(
        f"*filter\n:{chain} - [0:0]\n-I FORWARD 1 -j {chain}\n"
        f"-A {chain} -i {bridge} -o {bridge} -j ACCEPT\nCOMMIT\n")


def cleanup() -> None:
    """Remove our jumps and chains (the `down` command calls this)."""
    remove_chains(_JUMPS)
    log.info("forwarding rules removed chains=%s,%s", FORWARD_CHAIN, NAT_CHAIN)
