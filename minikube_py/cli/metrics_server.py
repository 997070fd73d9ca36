"""`minikube-py metrics-server`: resource metrics (metrics.k8s.io) for `kubectl top` and
the HorizontalPodAutoscaler, served through API aggregation."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("metrics-server",
                              help="scrape kubelets' resource metrics, serve metrics.k8s.io")
    p.add_argument("--kubeconfig", required=True, help="its own (service account) kubeconfig")
    p.add_argument("--tls-cert-file", required=True, help="serving certificate (PEM)")
    p.add_argument("--tls-private-key-file", required=True, help="its key (PEM)")
    p.add_argument("--bind-address", default="0.0.0.0", help="serve HTTPS here")
    p.add_argument("--secure-port", type=int, default=4443, help="HTTPS port")
    p.add_argument("--metric-resolution", type=float, default=15.0,
                   help="seconds between scrapes of every node")
    p.add_argument("--kubelet-insecure-tls", action="store_true",
                   help="do not verify kubelets' serving certificates")
    p.add_argument("--requestheader-client-ca-file", default="",
                   help="front-proxy CA (default: kube-system/"
                        "extension-apiserver-authentication)")
    p.add_argument("--requestheader-allowed-names", default="",
                   help="comma-separated front-proxy certificate names")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.metrics_server.settings import MetricsServerSettings

    for flag in ("kubeconfig", "tls_cert_file", "tls_private_key_file"):
        if not Path(getattr(args, flag)).is_file():
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
