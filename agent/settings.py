"""The agent's settings: one dataclass shared by kubelet, proxy and overlay.

Every field is defaulted and documented; tests pass a changed copy
(`dataclasses.replace`) instead of patching globals.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from minikube_py.api.resolvconf import cluster_dns_ip
from minikube_py.api.storageclass import LOCAL_PATH_ROOT
from minikube_py.api.types import Taint


@dataclass
class AgentSettings:
    kubeconfig: str = "/etc/minikube-py/admin.conf"
    """Credentials to the api-server."""
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    """The Node this agent is; also the value of every container's node label."""
    node_ip: str = ""
    """InternalIP of the node; empty: the address of `iface`, else of the default route."""
    iface: str = ""
    """Underlay interface (VXLAN, node IP discovery)."""
    max_pods: int = 110
    cni_conf_dir: str = "/etc/cni/net.d"
    cni_bin_dirs: list[str] = field(default_factory=lambda: ["/opt/cni/bin", "/usr/lib/cni"])
    state_dir: str = "/var/lib/minikube-py/agent"
    """Pod volumes, the CNI result cache; one per node (lab nodes share a filesystem)."""
    cluster_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    cluster_dns: list[str] | None = None
    """Pods' nameservers (kubelet's --cluster-dns); None: the 10th service address (the
    kube-dns Service), []: no cluster DNS (pods get the host's servers)."""
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"
    """The host file Default-policy pods inherit (loopback stubs replaced by upstreams)."""
    docker_url: str = ""
    """Docker Engine API endpoint; empty: DOCKER_HOST or the local socket."""
    kubelet_port: int = 10250
    """HTTPS port of the logs/exec server; 0 = any free port (tests)."""
    bind_address: str = "0.0.0.0"
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    """The kubelet API's serving certificate and key (issued by the cluster CA at join);
    empty: <state_dir>/pki/kubelet.crt and .key."""
    local_path_roots_extra: list[str] = field(default_factory=list)
    """Storage roots of local-path volumes besides the default (StorageClasses whose
    nodePath points elsewhere; --local-path-root): only directories right under a root are
    ever removed."""
    client_ca_file: str = ""
    """CA that client certificates of the kubelet API are verified against; empty: the
    CA of the kubeconfig (the cluster CA)."""
    node_labels: dict[str, str] = field(default_factory=dict)
    register_with_taints: list[Taint] = field(default_factory=list)
    workers: int = 8
    """Pods synced in parallel."""
    resync_period: float = 10.0
    """Every pod is reconciled at least this often, even without events."""
    lease_duration: int = 40
    lease_renew_interval: float = 10.0
    status_report_interval: float = 60.0
    """Node status is written when it changes and at least this often."""
    crash_backoff_initial: float = 10.0
    crash_backoff_max: float = 300.0
    enable_proxy: bool = True
    enable_overlay: bool = True
    enable_lb_announce: bool = True
    """Answer ARP for the LoadBalancer addresses this node is elected to announce."""
    enable_network_policy: bool = True
    """Enforce NetworkPolicies on this node's pods (iptables + ipset)."""

    @property
    def serving_cert_file(self) -> str:
        return self.tls_cert_file or f"{self.state_dir}/pki/kubelet.crt"

    @property
    def serving_key_file(self) -> str:
        return self.tls_private_key_file or f"{self.state_dir}/pki/kubelet.key"

    def local_path_roots(self) -> list[Path]:
        return [Path(LOCAL_PATH_ROOT), *map(Path, self.local_path_roots_extra)]

    def dns_servers(self) -> list[str]:
        if self.cluster_dns is not None:
            return list(self.cluster_dns)
        return [cluster_dns_ip(self.service_cidr)]
