"""`minikube-py metrics-server`: resource metrics (metrics.k8s.io) for `kubectl top` and
the HorizontalPodAutoscaler, served through API aggregation."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from minikube_py.cli.credentials import add_credentials_parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("metrics-server",
                              help="scrape kubelets' resource metrics, serve metrics.k8s.io")
    p.add_argument("--kubeconfig", required=True, help="its own (service account) kubeconfig")
    p.add_argument("--tls-cert-file", required=True, help="serving certificate (PEM)")
    p.add_argument("--tls-private-key-file", required=True, help="its key (PEM)")
    p.add_argument("--bind-address", default="0.0.0.0", help="serve HTTPS here (0.0.0.0)")
    p.add_argument("--secure-port", type=int, default=4443, help="HTTPS port (4443)")
    p.add_argument("--metric-resolution", type=float, default=15.0,
                   help="seconds between scrapes of every node (15)")
    p.add_argument("--kubelet-insecure-tls", action="store_true",
                   help="do not verify kubelets' serving certificates")
    p.add_argument("--requestheader-client-ca-file", default="",
                   help="front-proxy CA (default: kube-system/"
                        "extension-apiserver-authentication)")
    p.add_argument("--requestheader-allowed-names", default="",
                   help="comma-separated front-proxy certificate names")
    p.set_defaults(func=_main)
    c = add_credentials_parser(
        subparsers, "metrics-server-credentials", "metrics server",
        "set up the metrics server as `up` does: its kubeconfig (own ServiceAccount), "
        "serving certificate, Service, Endpoints and APIService")
    c.add_argument("--address", required=True,
                   help="this host's IP: the Endpoints and the certificate name it")
    c.add_argument("--secure-port", type=int, default=4443, help="the port it serves on (4443)")
    c.add_argument("--pki-dir", default=None,
                   help="the cluster CA's directory; metrics-server.crt/.key are written "
                        "there (default: pki/ next to the admin kubeconfig)")
    c.set_defaults(func=_credentials)


def _credentials(args: argparse.Namespace) -> int:
    """What `up` does itself (metrics_setup); systemd hosts run it from install.sh."""
    from minikube_py.cli.credentials import write_identity_kubeconfig
    from minikube_py.cli.main import CLIError
    from minikube_py.client import ApiClient
    from minikube_py.cluster import metrics_setup

    try:
        ipaddress.ip_address(args.address)
    except ValueError:
        raise CLIError(f"--address {args.address}: not an IP address") from None
    if not 1 <= args.secure_port <= 65535:
        raise CLIError("--secure-port must be within 1..65535")
    pki = Path(args.pki_dir) if args.pki_dir else Path(args.kubeconfig).resolve().parent / "pki"
    if Path(args.kubeconfig).is_file() and not (pki / "ca.key").is_file():
        raise CLIError(f"--pki-dir {pki}: no ca.key")

    async def install(client: ApiClient, server: str, ca_pem: bytes, output: Path) -> None:
        await metrics_setup.install(
            client, server=server, ca_pem=ca_pem, pki_dir=pki, kubeconfig=output,
            cert=pki / "metrics-server.crt", key=pki / "metrics-server.key",
            address=args.address, port=args.secure_port)

    write_identity_kubeconfig(install, "metrics server", args.kubeconfig, args.output,
                              args.server)
    return 0


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.metrics_server.settings import MetricsServerSettings

    for flag in ("kubeconfig", "tls_cert_file", "tls_private_key_file",
                 "requestheader_client_ca_file"):
        if getattr(args, flag) and not Path(getattr(args, flag)).is_file():
            raise CLIError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: no such file")
    if not 0 <= args.secure_port <= 65535:
        raise CLIError("--secure-port must be within 0..65535")
    if args.metric_resolution < 1:
        raise CLIError("--metric-resolution must be at least 1 second")
    settings = MetricsServerSettings(
        kubeconfig=args.kubeconfig, tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file, bind_address=args.bind_address,
        secure_port=args.secure_port, metric_resolution=args.metric_resolution,
        kubelet_insecure_tls=args.kubelet_insecure_tls,
        requestheader_client_ca_file=args.requestheader_client_ca_file,
        requestheader_allowed_names=tuple(
            n for n in args.requestheader_allowed_names.split(",") if n))
    import uvloop

    from minikube_py.lifetime import run_until_signalled
    from minikube_py.metrics_server.server import serve

    run_until_signalled(lambda: serve(settings), uvloop.run)
    return 0
