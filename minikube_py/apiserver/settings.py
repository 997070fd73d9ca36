"""Settings of one api-server process: every field defaulted, tests pass a copy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from minikube_py.store.etcdtls import EtcdTLS


@dataclass
class ApiServerSettings:
    """What `minikube-py apiserver` parses its flags into."""

    data_dir: Path
    port: int = 6443
    bind_address: str = "127.0.0.1"
    # Empty: start and supervise an embedded etcd in data_dir/etcd.
    etcd_servers: list[str] = field(default_factory=list)
    # Client TLS to those (kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile);
    # the embedded etcd always uses its own from data_dir/pki/etcd.
    etcd_tls: EtcdTLS | None = None
    # Accept a plain-HTTP etcd off loopback (--etcd-insecure).
    etcd_insecure: bool = False
    # The address the `kubernetes` Endpoints point at; default: bind address or 127.0.0.1.
    advertise_address: str = ""
    service_cluster_ip_range: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    # Compaction, as kube-apiserver: keep at least one interval of history.
    compaction_interval: float = 300.0
    # Scheduled snapshots of the embedded etcd into data_dir/snapshots (k3s: every 12 h,
    # keep 5); 0 turns them off.
    etcd_snapshot_interval: float = 12 * 3600.0
    etcd_snapshot_retention: int = 5
    # Events expire this many seconds after their last write (kube-apiserver's --event-ttl).
    event_ttl: int = 3600
    # How often the shared etcd watches ask etcd for progress (moves bookmarks on quiet kinds).
    watch_progress_interval: float = 10.0
    # Per-watcher bound, in changes: a watcher this far behind (its client not reading) is
    # disconnected and re-lists, so it cannot hold the server's memory.
    watch_queue_size: int = 1000
    # kube-apiserver's --min-request-timeout: a watch lasts this long times a random 1-2
    # (spreading re-watches), and no longer even if timeoutSeconds asks for more.
    min_request_timeout: int = 1800
    # kube-apiserver's --max-requests-inflight / --max-mutating-requests-inflight (0: none).
    max_requests_inflight: int = 400
    max_mutating_requests_inflight: int = 200
    # Open watches per user in this process, beyond which 429 (0: none; ours, see inflight.py).
    max_watches_per_user: int = 1000
    # Seconds an idle keep-alive connection (or one that never sends a request) stays open
    # (kube-apiserver's http.Server IdleTimeout).
    idle_connection_timeout: float = 90.0
    # Extra serving-certificate SANs (IPs or DNS names), e.g. a lab bridge address.
    tls_sans: list[str] = field(default_factory=list)
    # Processes serving the port (SO_REUSEPORT); this one plus workers - 1 (workers.py).
    workers: int = 1
    # True in those extra processes: serve only (no PKI writes, etcd, bootstrap, compaction).
    worker: bool = False
    # kube-apiserver's --authorization-mode: Node,RBAC; AlwaysAllow only for benchmarks.
    authorization_mode: tuple[str, ...] = ("Node", "RBAC")
    # Pod Security level of a namespace without pod-security.kubernetes.io labels.
    pod_security_default: str = "baseline"
    # kube-apiserver's --encryption-provider-config; None: DATA_DIR/pki/encryption-config.yaml,
    # generated on first start (Secrets sealed with secretbox).
    encryption_provider_config: Path | None = None
    # Extra bearer tokens (token -> user name); the admin token is generated in data_dir/pki.
    extra_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def encryption_config_path(self) -> Path:
        from minikube_py.apiserver.encryption_config import FILE_NAME
        return self.encryption_provider_config or self.pki_dir / FILE_NAME

    @property
    def kubeconfig_path(self) -> Path:
        return self.data_dir / "admin.conf"

    def component_kubeconfig_path(self, component: str) -> Path:
        """scheduler.conf, controller-manager.conf, vip.conf: each component's own identity."""
        return self.data_dir / f"{component}.conf"

    @property
    def service_network(self) -> ipaddress.IPv4Network:
        net = ipaddress.ip_network(self.service_cluster_ip_range, strict=False)
        assert isinstance(net, ipaddress.IPv4Network), "only IPv4 service ranges"
        return net

    @property
    def kubernetes_service_ip(self) -> str:
        """The first address of the service range: 10.96.0.1 by default."""
        return str(self.service_network.network_address + 1)

    @property
    def endpoint_address(self) -> str:
        if self.advertise_address:
            return self.advertise_address
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::", "") else self.bind_address
