"""Each pod's /etc/resolv.conf, as the kubelet's --cluster-dns/--cluster-domain make it:
the policy logic is api/resolvconf's (shared with the DNS server); this is the node's
part, where the host's file and the cluster settings come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minikube_py.api.resolvconf import (
    HOST_RESOLV_CONF,
    RESOLVED_RESOLV_CONF,
    for_pod,
    host_resolv_conf,
)


@dataclass(frozen=True)
class PodDNS:
    """--cluster-dns (empty: pods fall back to the host's servers, as kubelet does),
    --cluster-domain, and the host's resolv.conf that Default pods inherit."""

    servers: list[str] = field(default_factory=list)
    domain: str = "cluster.local"
    host_file: Path = HOST_RESOLV_CONF
    resolved_file: Path = RESOLVED_RESOLV_CONF

    def resolv_conf(self, pod: dict[str, Any]) -> str:
        """The file's text; the host's is read each time so a changed uplink is seen by the
        next pod."""
        host = host_resolv_conf(self.host_file, self.resolved_file)
        return for_pod(pod, host=host, cluster_dns=self.servers,
                       cluster_domain=self.domain).render()
