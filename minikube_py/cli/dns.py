"""`minikube-py dns`: the cluster DNS server (kube-dns at the 10th service address)."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from minikube_py.cli.credentials import add_credentials_parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("dns", help="run the cluster DNS server")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the api-server")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's zone (cluster.local)")
    p.add_argument("--bind-address", default="0.0.0.0", help="serve UDP and TCP here (0.0.0.0)")
    p.add_argument("--port", type=int, default=53, help="UDP and TCP port (53)")
    p.add_argument("--advertise-address", default="",
                   help="list this address in kube-system/kube-dns Endpoints while serving")
    p.add_argument("--upstream", action="append", default=[], metavar="IP[:PORT]",
                   help="forward other names here (repeatable; default: the host's "
                        "resolv.conf, systemd-resolved's real upstreams)")
    p.add_argument("--stub-domain", action="append", default=[],
                   metavar="DOMAIN=IP[:PORT][,IP[:PORT]]",
                   help="forward names under DOMAIN to these servers (repeatable)")
    p.add_argument("--resolv-conf", default="/etc/resolv.conf",
                   help="where the default upstreams are read (/etc/resolv.conf)")
    p.add_argument("--health-port", type=int, default=9153,
                   help="/healthz, /ready and /metrics on 127.0.0.1 at this port (9153)")
    p.add_argument("--ttl", type=int, default=5, help="TTL of cluster records (seconds, 5)")
    p.set_defaults(func=_main)
    add_credentials_parser(subparsers, "dns-credentials", "DNS server",
                           "write the DNS server's kubeconfig (its own ServiceAccount)"
                           ).set_defaults(func=_credentials)


def _credentials(args: argparse.Namespace) -> int:
    from minikube_py.cli.credentials import write_identity_kubeconfig
    from minikube_py.cluster import dns_identity

    write_identity_kubeconfig(dns_identity.write_kubeconfig, "DNS", args.kubeconfig,
                              args.output, args.server)
    return 0


def _address(text: str, flag: str) -> str:
    from minikube_py.cli.main import CLIError

    host = text.rsplit("]:", 1)[0].lstrip("[") if text.startswith("[") else \
        (text.split(":")[0] if text.count(":") == 1 else text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise CLIError(f"{flag} {text}: not an IP address") from None
    return text


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.dns import DnsSettings, run

    if not Path(args.kubeconfig).is_file():
        raise CLIError(f"--kubeconfig {args.kubeconfig}: no such file")
    if not 0 <= args.port <= 65535 or not 0 <= args.health_port <= 65535:
        raise CLIError("--port and --health-port must be within 0..65535")
    if args.ttl < 0:
        raise CLIError("--ttl must not be negative")
    stubs: dict[str, tuple[str, ...]] = {}
    for entry in args.stub_domain:
        domain, sep, servers = entry.partition("=")
        if not sep or not domain or not servers:
            raise CLIError(f"--stub-domain {entry}: expected DOMAIN=IP[:PORT][,IP[:PORT]]")
        stubs[domain] = tuple(_address(s, "--stub-domain") for s in servers.split(","))
    settings = DnsSettings(
        kubeconfig=args.kubeconfig, cluster_domain=args.cluster_domain.strip("."),
        bind_address=_address(args.bind_address, "--bind-address"), port=args.port,
        advertise_address=args.advertise_address and _address(args.advertise_address,
                                                                "--advertise-address"),
        upstreams=tuple(_address(u, "--upstream") for u in args.upstream),
        stub_domains=stubs, resolv_conf=args.resolv_conf, health_port=args.health_port,
        ttl=args.ttl)
    import uvloop  # imported here, as the rest: `--help` stays fast

    from minikube_py.lifetime import run_until_signalled

    run_until_signalled(lambda: run(settings), uvloop.run)  # SIGTERM: leave kube-dns first
    return 0
