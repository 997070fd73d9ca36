"""`minikube-py agent`: the node agent (kubelet, proxy, overlay) for one node."""

from __future__ import annotations

import argparse
import ipaddress
import os
from typing import Any


def _labels(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{item!r} is not key=value")
        out[key] = value
    return out


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("agent", help="run the node agent (kubelet, proxy, overlay)")
    p.add_argument("--kubeconfig", required=True, help="credentials to the api-server")
    p.add_argument("--node-name", required=True, help="name of the Node this agent is")
    p.add_argument("--node-ip", default="", help="InternalIP (default: from --iface or route)")
    p.add_argument("--iface", default="", help="underlay interface")
    p.add_argument("--max-pods", type=int, default=110, help="the Node's pod capacity (110)")
    p.add_argument("--cni-conf-dir", default="/etc/cni/net.d",
                   help="where the conflist is written (/etc/cni/net.d)")
    p.add_argument("--cni-bin-dir", action="append", default=None,
                   help="where CNI plugins are (repeatable; default /opt/cni/bin, /usr/lib/cni)")
    p.add_argument("--state-dir", default="/var/lib/minikube-py/agent",
                   help="pods' volumes, IPAM leases, kubelet certificate "
                        "(/var/lib/minikube-py/agent)")
    p.add_argument("--kubelet-port", type=int, default=10250, help="the kubelet API's (10250)")
    p.add_argument("--tls-cert-file", default="",
                   help="the kubelet API's serving certificate, issued at join "
                        "(default: STATE_DIR/pki/kubelet.crt)")
    p.add_argument("--tls-private-key-file", default="",
                   help="its key (default: STATE_DIR/pki/kubelet.key)")
    p.add_argument("--local-path-root", action="append", default=[], metavar="DIR",
                   help="a storage root of local-path volumes besides "
                        "/var/lib/minikube-py/storage (a StorageClass nodePath; repeatable)")
    p.add_argument("--client-ca-file", default="",
                   help="CA for client certificates of the kubelet API (default: the "
                        "kubeconfig's CA)")
    p.add_argument("--docker-host", default="",
                   help="Docker Engine API endpoint (default: DOCKER_HOST or the local socket)")
    p.add_argument("--node-labels", default="", help="k=v,... added to the Node")
    p.add_argument("--register-with-taints", default="", help="key[=value]:Effect,...")
    p.add_argument("--cluster-dns", default=None, metavar="IP[,IP]",
                   help="pods' nameservers (default: the kube-dns Service, the 10th address "
                        "of the service range; '' for none: pods get the host's servers)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS zone")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf",
                   help="host resolv.conf that dnsPolicy Default pods inherit")
    p.add_argument("--no-proxy", action="store_true", help="do not run kube-proxy")
    p.add_argument("--no-overlay", action="store_true", help="do not run the VXLAN overlay")
    p.add_argument("--no-lb-announce", action="store_true",
                   help="do not announce LoadBalancer addresses (ARP) from this node")
    p.add_argument("--no-network-policy", action="store_true",
                   help="do not enforce NetworkPolicies on this node")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agent import main
    from agent.settings import AgentSettings
    from minikube_py.api.taints import parse_taint
    from minikube_py.cli.main import CLIError

    if not os.path.exists(args.kubeconfig):
        raise CLIError(f"--kubeconfig {args.kubeconfig}: no such file")
    if args.max_pods <= 0:
        raise CLIError("--max-pods: must be positive")
    try:
        taints = [parse_taint(t) for t in filter(None, args.register_with_taints.split(","))]
    except ValueError as e:
        raise CLIError(f"--register-with-taints: {e}") from None
    try:
        labels = _labels(args.node_labels)
    except ValueError as e:
        raise CLIError(f"--node-labels: {e}") from None
    cluster_dns = None if args.cluster_dns is None else \
        [ip.strip() for ip in args.cluster_dns.split(",") if ip.strip()]
    for ip in cluster_dns or []:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise CLIError(f"--cluster-dns: {ip!r} is not an IP address") from None
    settings = AgentSettings(
        kubeconfig=args.kubeconfig, node_name=args.node_name, node_ip=args.node_ip,
        iface=args.iface, max_pods=args.max_pods, cni_conf_dir=args.cni_conf_dir,
        state_dir=args.state_dir, kubelet_port=args.kubelet_port, docker_url=args.docker_host,
        node_labels=labels, register_with_taints=taints,
        enable_proxy=not args.no_proxy, enable_overlay=not args.no_overlay,
        enable_lb_announce=not args.no_lb_announce,
        enable_network_policy=not args.no_network_policy,
        cluster_dns=cluster_dns, cluster_domain=args.cluster_domain.strip("."),
        resolv_conf=args.resolv_conf, tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file, client_ca_file=args.client_ca_file,
        local_path_roots_extra=args.local_path_root)
    if args.cni_bin_dir:
        settings.cni_bin_dirs = args.cni_bin_dir
    try:
        return main.run(settings)
    except ValueError as e:
        raise CLIError(str(e)) from None
