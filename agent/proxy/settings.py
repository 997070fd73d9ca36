"""Settings of the service proxy: one dataclass, every field defaulted, so the
agent, the benchmark and the tests each pass a changed copy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxySettings:
    """How the proxy programs iptables on this node."""

    # Traffic from outside this CIDR to a Service is masqueraded so replies come back through us.
    cluster_cidr: str = "10.244.0.0/16"
    # "auto" picks legacy when the kernel offers it (see bench/README.md for why), else "nft".
    backend: str = "auto"
    # A full rewrite of every chain this often; repairs chains someone else flushed.
    full_sync_period: float = 60.0
    # Changes arriving within this window are applied by one sync.
    min_sync_interval: float = 0.05
    # Run iptables and conntrack inside this named netns (lab nodes, tests); None = our own.
    netns: str | None = None
    # The bit of the packet mark that asks KUBE-POSTROUTING to masquerade (kube-proxy's 0x4000).
    masquerade_bit: int = 14
    # Flush conntrack entries of removed UDP endpoints (needs the conntrack tool).
    flush_udp_conntrack: bool = True
    # This node: its endpoints are "local" (externalTrafficPolicy/internalTrafficPolicy Local).
    node_name: str = ""
    # Where healthCheckNodePorts listen; None: not served (tests, benchmarks).
    health_check_address: str | None = None
