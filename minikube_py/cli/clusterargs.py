"""Arguments and output shared by the cluster commands (up, down, status, lab, join).

Not a subcommand (no `register`): the dispatcher skips it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikube_py.cluster.components import Toolbox
    from minikube_py.cluster.paths import ClusterPaths


def add_paths(parser: argparse.ArgumentParser) -> None:
    """`--root DIR` puts state, logs and config under DIR (tests); hidden from --help."""
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)


def paths_from(args: argparse.Namespace) -> ClusterPaths:
    from minikube_py.cluster.paths import ClusterPaths

    return ClusterPaths.under(args.root) if args.root else ClusterPaths()


def admin_kubeconfig(args: argparse.Namespace) -> Path:
    """--kubeconfig, else the admin.conf of this control-plane host; CLIError if missing."""
    from minikube_py.cli.main import CLIError

    kubeconfig: Path = args.kubeconfig or paths_from(args).admin_conf
    if not kubeconfig.exists():
        raise CLIError(f"no {kubeconfig}: run this on the control plane (after `minikube-py up`)")
    return kubeconfig


def say(message: str) -> None:
    """Progress for people: one line per step, flushed so `up | tee` shows it live."""
    print(f"==> {message}", flush=True)


def toolbox() -> Toolbox:
    """The subcommands this build has, with their flags (so `up` runs what exists)."""
    from minikube_py.cli.main import build_parser
    from minikube_py.cluster.components import Toolbox

    parser = build_parser()
    commands: dict[str, frozenset[str]] = {}
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in getattr(action, "choices", {}).items():
            commands[name] = frozenset(o for a in sub._actions for o in a.option_strings)
    return Toolbox(commands)


def seconds(text: str) -> float:
    """Durations as Kubernetes flags take them: 40, 40s, 5m, 1h, 1m30s."""
    import re

    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?",
                         text.strip())
    if not text.strip() or parts is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 40s, 5m, 1m30s)")
    return sum(float(v) * units[u] for v, u in zip(parts.groups(), ("h", "m", "")) if v)


def ipv4(text: str) -> str:
    """A node address: checked here, not after the cluster's processes started with it."""
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def port(text: str) -> int:
    """A TCP port to listen on."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port (1-65535): {text!r}")
    return int(text)
