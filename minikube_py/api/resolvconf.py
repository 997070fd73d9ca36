"""resolv.conf as the kubelet builds it for pods, and the host's real upstream servers.

Shared by the agent (each pod's /etc/resolv.conf from its dnsPolicy and dnsConfig,
pkg/kubelet/network/dns in Kubernetes) and the DNS server (where to forward names
outside the cluster). Both must skip a loopback stub such as systemd-resolved's
127.0.0.53: a pod cannot reach the host's loopback, and a DNS server forwarding to a
stub that forwards back to it loops (k3s issue #4087).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.meta import dns1123_subdomain

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
# systemd-resolved writes the servers it forwards to here; /etc/resolv.conf names its stub.
RESOLVED_RESOLV_CONF = Path("/run/systemd/resolve/resolv.conf")
MAX_NAMESERVERS = 3  # glibc's MAXNS; Kubernetes' validation limit
MAX_SEARCHES = 32  # Kubernetes' MaxDNSSearchPaths
MAX_SEARCH_CHARS = 2048  # Kubernetes' MaxDNSSearchListChars
CLUSTER_OPTIONS = ("ndots:5",)


@dataclass
class ResolvConf:
    nameservers: list[str] = dc_field(default_factory=list)
    searches: list[str] = dc_field(default_factory=list)
    options: list[str] = dc_field(default_factory=list)

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


def _has_space(text: str) -> bool:
    return any(c.isspace() for c in text)


def _merge(conf: ResolvConf, dns_config: dict[str, Any]) -> None:
    """Kubernetes' appendDNSConfig: servers and searches appended, options by name
    (a dnsConfig option replaces the base's option of the same name)."""
    conf.nameservers = _unique(conf.nameservers + [str(ns) for ns in
                                                   dns_config.get("nameservers") or []
                                                   if not _has_space(str(ns))])
    conf.searches = _unique(conf.searches + [str(s) for s in dns_config.get("searches") or []
                                               if not _has_space(str(s))])
    options = {opt.split(":", 1)[0]: opt for opt in conf.options}
    for opt in dns_config.get("options") or []:
        name = str(opt.get("name") or "")
        value = opt.get("value")
        if name and not _has_space(name + str(value or "")):
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


def validate_dns_config(spec: Mapping[str, Any], path: str) -> list[Cause]:
    """spec.dnsConfig as Kubernetes validates it (validateDNSConfig / validatePodDNSConfig):
    the limits `_limited` would otherwise apply silently, IPs, search names, option names."""
    config, policy = spec.get("dnsConfig"), spec.get("dnsPolicy")
    here = f"{path}.dnsConfig"
    if config is None:
        return [field.required(here, "must provide `dnsConfig` when `dnsPolicy` is None")] \
            if policy == "None" else []
    if not isinstance(config, Mapping):
        return [field.invalid(here, config, "must be an object")]
    causes: list[Cause] = []
    servers = config.get("nameservers") or []
    searches = config.get("searches") or []
    options = config.get("options") or []
    for key, value in (("nameservers", servers), ("searches", searches), ("options", options)):
        if not isinstance(value, list):
            causes.append(field.invalid(f"{here}.{key}", value, "must be a list"))
    if causes:
        return causes
    if policy == "None" and not servers:
        causes.append(field.required(f"{here}.nameservers", "must provide at least one DNS "
                                     "nameserver when `dnsPolicy` is None"))
    if len(servers) > MAX_NAMESERVERS:
        causes.append(field.invalid(f"{here}.nameservers", servers,
                                    f"must not have more than {MAX_NAMESERVERS} nameservers"))
    for i, ns in enumerate(servers):
        try:
            ipaddress.ip_address(ns if isinstance(ns, str) else "")
        except ValueError:
            causes.append(field.invalid(f"{here}.nameservers[{i}]", ns,
                                        "must be valid IP address"))
    if len(searches) > MAX_SEARCHES:
        causes.append(field.invalid(f"{here}.searches", searches,
                                    f"must not have more than {MAX_SEARCHES} search paths"))
    if sum(len(str(s)) for s in searches) + max(0, len(searches) - 1) > MAX_SEARCH_CHARS:
        causes.append(field.invalid(f"{here}.searches", searches, "must not have more than "
                                    f"{MAX_SEARCH_CHARS} characters (including spaces) in "
                                    "the search list"))
    for i, search in enumerate(searches):
        problems = dns1123_subdomain(search.removesuffix(".")) if isinstance(search, str) \
            else ["must be a string"]
        causes += [field.invalid(f"{here}.searches[{i}]", search, p) for p in problems]
    for i, option in enumerate(options):
        if not isinstance(option, Mapping) or not option.get("name"):
            causes.append(field.required(f"{here}.options[{i}].name",
                                         "Option.Name must not be empty"))
            continue
        # Name and value are written into resolv.conf's one `options` line: whitespace
        # (a newline above all) would split it or add lines such as `nameserver`.
        for key in ("name", "value"):
            text = option.get(key)
            if text is not None and (not isinstance(text, str) or _has_space(text)):
                causes.append(field.invalid(f"{here}.options[{i}].{key}", text,
                                            "must be a string without whitespace"))
    return causes
