"""`minikube-py scheduler`: place pending pods on nodes."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli.flags import add_leader_flags


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("scheduler", help="run the scheduler")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the api-server")
    p.add_argument("--scheduler-name", default="default-scheduler",
                   help="schedule pods whose spec.schedulerName is this (default-scheduler)")
    add_leader_flags(p, "kube-scheduler")
    p.add_argument("--bind-concurrency", type=int, default=64,
                   help="bindings in flight at once (64)")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0,
                   help="stop searching after this share of feasible nodes (0 = adaptive)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.flags import leader_settings
    from minikube_py.cli.main import CLIError
    from minikube_py.scheduler import SchedulerSettings, run

    if not Path(args.kubeconfig).is_file():
        raise CLIError(f"--kubeconfig {args.kubeconfig}: no such file")
    if args.bind_concurrency < 1:
        raise CLIError("--bind-concurrency must be at least 1")
    if not 0 <= args.percentage_of_nodes_to_score <= 100:
        raise CLIError("--percentage-of-nodes-to-score must be within 0..100")
    settings = SchedulerSettings(
        kubeconfig=args.kubeconfig,
        scheduler_name=args.scheduler_name,
        leader_election=leader_settings(args, "kube-scheduler"),
        bind_concurrency=args.bind_concurrency,
        percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
    )
    import uvloop  # imported here, as the rest: `--help` stays fast

    from minikube_py.lifetime import run_until_signalled

    run_until_signalled(lambda: run(settings), uvloop.run)  # SIGTERM: hand the Lease back
    return 0
