"""`minikube-py ingress`: the ingress controller (Ingresses rendered into HAProxy)."""

from __future__ import annotations

import argparse
import ipaddress
import shutil
from pathlib import Path

from minikube_py.api.ingressclass import CONTROLLER
from minikube_py.cli.credentials import add_credentials_parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("ingress", help="run the ingress controller (HAProxy)")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the api-server")
    p.add_argument("--controller", default=CONTROLLER,
                   help=f"serve IngressClasses naming this controller ({CONTROLLER})")
    p.add_argument("--bind-address", default="0.0.0.0", help="HAProxy listens here (0.0.0.0)")
    p.add_argument("--http-port", type=int, default=80, help="plain HTTP port (80)")
    p.add_argument("--https-port", type=int, default=443, help="TLS port (443)")
    p.add_argument("--publish-address", default="",
                   help="address, or comma-separated addresses, written to the served "
                        "Ingresses' status.loadBalancer.ingress")
    p.add_argument("--state-dir", default="/var/lib/minikube-py/ingress",
                   help="HAProxy's configuration, certificates and sockets "
                        "(/var/lib/minikube-py/ingress)")
    p.add_argument("--haproxy", default="haproxy", help="the haproxy executable")
    p.add_argument("--threads", type=int, default=0,
                   help="HAProxy worker threads (0: one per CPU)")
    p.set_defaults(func=_main)
    add_credentials_parser(subparsers, "ingress-credentials", "ingress controller",
                           "write the ingress controller's kubeconfig (its own ServiceAccount)"
                           ).set_defaults(func=_credentials)


def _credentials(args: argparse.Namespace) -> int:
    from minikube_py.cli.credentials import write_identity_kubeconfig
    from minikube_py.cluster import ingress_identity

    write_identity_kubeconfig(ingress_identity.write_kubeconfig, "ingress", args.kubeconfig,
                              args.output, args.server)
    return 0


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.ingress import IngressSettings, run

    if not Path(args.kubeconfig).is_file():
        raise CLIError(f"--kubeconfig {args.kubeconfig}: no such file")
    for flag, port in (("--http-port", args.http_port), ("--https-port", args.https_port)):
        if not 1 <= port <= 65535:
            raise CLIError(f"{flag} must be within 1..65535")
    published = tuple(a.strip() for a in args.publish_address.split(",") if a.strip())
    for flag, address in (("--bind-address", args.bind_address),
                          *(("--publish-address", a) for a in published)):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise CLIError(f"{flag} {address}: not an IP address") from None
    if shutil.which(args.haproxy) is None:
        raise CLIError(f"--haproxy {args.haproxy}: no such program (Debian: apt-get install "
                       "haproxy)")
    settings = IngressSettings(
        kubeconfig=args.kubeconfig, controller=args.controller,
        bind_address=args.bind_address, http_port=args.http_port,
        https_port=args.https_port, publish_addresses=published,
        state_dir=args.state_dir, haproxy=args.haproxy, threads=max(args.threads, 0))
    import uvloop

    from minikube_py.lifetime import run_until_signalled

    run_until_signalled(lambda: run(settings), uvloop.run)  # SIGTERM: HAProxy stopped too
    return 0
