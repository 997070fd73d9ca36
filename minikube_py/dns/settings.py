"""DNS server settings: one dataclass, every field defaulted; tests pass a changed copy."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DnsSettings:
    kubeconfig: str | None = None
    cluster_domain: str = "cluster.local"
    # UDP and TCP are served here; 0 picks a free port (tests).
    bind_address: str = "0.0.0.0"
    port: int = 53
    # Registered in kube-system/kube-dns Endpoints while we serve; empty: not registered.
    advertise_address: str = ""
    # "ip" or "ip:port"; empty: the host's resolv.conf (systemd-resolved's real upstreams).
    upstreams: tuple[str, ...] = ()
    # domain -> its own servers (CoreDNS's per-zone forward).
    stub_domains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resolv_conf: str = "/etc/resolv.conf"
    # /healthz, /ready and /metrics; port 0 picks a free one.
    health_address: str = "127.0.0.1"
    health_port: int = 9153
    ttl: int = 5
    # Whole-answer deadline for forwarded names: the client gets SERVFAIL past it.
    forward_deadline: float = 1.5
    forward_try_timeout: float = 0.5
    forward_cache_size: int = 10000
