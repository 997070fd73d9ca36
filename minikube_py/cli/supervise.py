"""`minikube-py supervise`: the detached daemon `up` starts (not for direct use)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("supervise", help="(internal) keep a cluster's components running")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--log-dir", type=Path, required=True)
    p.add_argument("--config-dir", type=Path, required=True)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from minikube_py.cluster import supervisor
    from minikube_py.cluster.paths import ClusterPaths

    supervisor.run(ClusterPaths(args.state_dir, args.log_dir, args.config_dir))
    return 0
