"""Flags shared by the long-running components, spelled as Kubernetes spells them."""

from __future__ import annotations

import argparse
import re
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
