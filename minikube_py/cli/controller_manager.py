"""`minikube-py controller-manager`: run the controllers (leader-elected)."""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikube_py.client.leaderelection import LeaderElectionSettings

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?"
                       r"(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


def parse_duration(text: str) -> float:
    """Go-style durations ("40s", "5m", "1m30s", "500ms") or plain seconds, to seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    match = _DURATION.match(text.strip())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (e.g. 40s, 5m, 1m30s)")
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def add_leader_flags(p: argparse.ArgumentParser, lease_name: str) -> None:
    """--leader-elect and --leader-elect-* as kube-scheduler and kube-controller-manager
    spell them; leader_settings() reads them back."""
    p.add_argument("--leader-elect", default="true", choices=("true", "false"),
                   help=f"take the kube-system/{lease_name} Lease before acting")
    p.add_argument("--leader-elect-lease-duration", type=parse_duration, default=15.0,
                   help="how long a leader's Lease holds without renewal (default 15s)")
    p.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=10.0,
                   help="a leader that cannot renew for this long steps down (default 10s)")
    p.add_argument("--leader-elect-retry-period", type=parse_duration, default=2.0,
                   help="how often candidates try to acquire (default 2s)")
    p.add_argument("--identity", help="holder identity in the Lease (default host_uuid)")


def leader_settings(args: argparse.Namespace, lease_name: str) -> LeaderElectionSettings | None:
    """The flags of add_leader_flags as settings (None = --leader-elect=false)."""
    from minikube_py.cli.main import CLIError
    from minikube_py.client.leaderelection import LeaderElectionSettings

    try:
        settings = LeaderElectionSettings(
            lease_name, identity=args.identity, lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period)
    except ValueError as e:
        raise CLIError("need --leader-elect-lease-duration > --leader-elect-renew-deadline > "
                       "1.2 x --leader-elect-retry-period") from e
    return settings if args.leader_elect == "true" else None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("controller-manager", help="run the controllers")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the api-server")
    p.add_argument("--controllers", default="*",
                   help="comma-separated controllers: '*' for all, '-name' to leave one out")
    add_leader_flags(p, "kube-controller-manager")
    p.add_argument("--node-monitor-grace-period", type=parse_duration, default=40.0,
                   help="silence after which a node is Unknown (default 40s)")
    p.add_argument("--node-monitor-period", type=parse_duration, default=5.0,
                   help="how often every node is looked at (default 5s)")
    p.add_argument("--pod-eviction-timeout", type=parse_duration, default=300.0,
                   help="default toleration of an unreachable/not-ready node (default 300s)")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod network to split")
    p.add_argument("--service-account-private-key-file",
                   help="PEM RSA key to sign service-account tokens (the api-server's sa.key)")
    p.add_argument("--root-ca-file", help="CA certificate put into token Secrets as ca.crt")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.controllers import ControllerManagerSettings, run
    from minikube_py.controllers.manager import selected

    for flag, path in (("--kubeconfig", args.kubeconfig),
                       ("--service-account-private-key-file",
                        args.service_account_private_key_file),
                       ("--root-ca-file", args.root_ca_file)):
        if path is not None and not Path(path).is_file():
            raise CLIError(f"{flag} {path}: no such file")
    controllers = tuple(c.strip() for c in args.controllers.split(",") if c.strip())
    try:
        selected(controllers)
    except ValueError as e:
        raise CLIError(f"--controllers: {e}") from e
    if args.node_monitor_grace_period <= 0 or args.node_monitor_period <= 0:
        raise CLIError("--node-monitor-grace-period and --node-monitor-period must be positive")
    settings = ControllerManagerSettings(
        kubeconfig=args.kubeconfig,
        controllers=controllers,
        leader_election=leader_settings(args, "kube-controller-manager"),
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_monitor_period=args.node_monitor_period,
        pod_eviction_timeout=args.pod_eviction_timeout,
        cluster_cidr=args.cluster_cidr,
        service_account_private_key_file=args.service_account_private_key_file,
        root_ca_file=args.root_ca_file,
    )
    asyncio.run(run(settings))
    return 0
