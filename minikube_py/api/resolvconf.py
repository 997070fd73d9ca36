"""resolv.conf as the kubelet builds it for pods, and the host's real upstream servers.

Shared by the agent (each pod's /etc/resolv.conf from its dnsPolicy and dnsConfig,
pkg/kubelet/network/dns in Kubernetes) and the DNS server (where to forward names
outside the cluster). Both must skip a loopback stub such as systemd-resolved's
127.0.0.53: a pod cannot reach the host's loopback, and a DNS server forwarding to a
stub that forwards back to it loops (k3s issue #4087).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
# systemd-resolved writes the servers it forwards to here; /etc/resolv.conf names its stub.
RESOLVED_RESOLV_CONF = Path("/run/systemd/resolve/resolv.conf")
MAX_NAMESERVERS = 3  # glibc's MAXNS; Kubernetes' validation limit
MAX_SEARCHES = 32  # Kubernetes' MaxDNSSearchPaths
MAX_SEARCH_CHARS = 2048  # Kubernetes' MaxDNSSearchListChars
CLUSTER_OPTIONS = ("ndots:5",)


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"nameserver {ns}" for ns in self.nameservers]
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def parse(text: str) -> ResolvConf:
    """nameserver, search/domain (the last one wins, as in glibc) and options lines."""
    conf = ResolvConf()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, values = fields[0], fields[1:]
        if key == "nameserver" and values:
            conf.nameservers.append(values[0])
        elif key in ("search", "domain"):
            conf.searches = values
        elif key == "options":
            conf.options += values
    return conf


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def host_resolv_conf(path: Path = HOST_RESOLV_CONF,
                     resolved: Path = RESOLVED_RESOLV_CONF) -> ResolvConf:
    """The host's resolv.conf with loopback nameservers replaced by real upstreams:
    systemd-resolved's own list when it runs, otherwise the loopback ones are dropped."""
    try:
        conf = parse(path.read_text())
    except OSError:
        return ResolvConf()
    if not any(_loopback(ns) for ns in conf.nameservers):
        return conf
    real = [ns for ns in conf.nameservers if not _loopback(ns)]
    try:
        upstream = parse(resolved.read_text()).nameservers
    except OSError:
        upstream = []
    conf.nameservers = _unique(real + [ns for ns in upstream if not _loopback(ns)])
    return conf


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def cluster_searches(namespace: str, domain: str) -> list[str]:
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


def for_pod(pod: dict[str, Any], *, host: ResolvConf, cluster_dns: list[str],
            cluster_domain: str) -> ResolvConf:
    """The resolv.conf of `pod` (the kubelet's GetPodDNS): its dnsPolicy's base, then
    spec.dnsConfig merged in, then Kubernetes' limits."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    cluster = policy == "ClusterFirstWithHostNet" or (
        policy == "ClusterFirst" and not spec.get("hostNetwork"))
    if policy == "None":
        conf = ResolvConf()
    elif cluster and cluster_dns:
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        conf = ResolvConf(list(cluster_dns),
                          cluster_searches(namespace, cluster_domain) + host.searches,
                          list(CLUSTER_OPTIONS))
    else:  # Default, hostNetwork ClusterFirst, or no cluster DNS configured
        conf = ResolvConf(list(host.nameservers), list(host.searches), list(host.options))
    _merge(conf, spec.get("dnsConfig") or {})
    return _limited(conf)


def _merge(conf: ResolvConf, dns_config: dict[str, Any]) -> None:
    """Kubernetes' appendDNSConfig: servers and searches appended, options by name
    (a dnsConfig option replaces the base's option of the same name)."""
    conf.nameservers = _unique(conf.nameservers + [str(ns) for ns in
                                                   dns_config.get("nameservers") or []])
    conf.searches = _unique(conf.searches + [str(s) for s in dns_config.get("searches") or []])
    options = {opt.split(":", 1)[0]: opt for opt in conf.options}
    for opt in dns_config.get("options") or []:
        name = str(opt.get("name") or "")
        if name:
            value = opt.get("value")
            options[name] = f"{name}:{value}" if value not in (None, "") else name
    conf.options = list(options.values())


def _limited(conf: ResolvConf) -> ResolvConf:
    """At most 3 nameservers, 32 search domains and 2048 characters of search list."""
    searches: list[str] = []
    chars = 0
    for domain in conf.searches[:MAX_SEARCHES]:
        chars += len(domain) + (1 if searches else 0)
        if chars > MAX_SEARCH_CHARS:
            break
        searches.append(domain)
    return ResolvConf(conf.nameservers[:MAX_NAMESERVERS], searches, conf.options)


def cluster_dns_ip(service_cidr: str) -> str:
    """The 10th address of the service range: where kubeadm puts kube-dns (10.96.0.10)."""
    return str(ipaddress.ip_network(service_cidr, strict=False).network_address + 10)
