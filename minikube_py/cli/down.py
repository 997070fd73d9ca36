"""`minikube-py down`: stop the cluster on this host and leave the host as it was."""

from __future__ import annotations

import argparse

from minikube_py.cli.clusterargs import add_paths, paths_from, say
from minikube_py.cli.main import CLIError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "down", help="stop the cluster; no containers, netns, links, rules or processes remain",
        description="Stops every component and removes the cluster's containers, network "
                    "devices and iptables chains. The cluster's data (etcd, certificates) stays "
                    "for the next `up` unless --purge.")
    p.add_argument("--purge", action="store_true", help="also delete state, logs and admin.conf")
    add_paths(p)
    p.set_defaults(func=lambda args: run(args, expect_lab=None))


def run(args: argparse.Namespace, expect_lab: bool | None) -> int:
    """Shared by `down` and `lab down`; exit 1 if something could not be removed."""
    from minikube_py.cluster import lifecycle
    from minikube_py.cluster.host import HostError

    try:
        problems = lifecycle.down(paths_from(args), purge=args.purge, progress=say,
                                  expect_lab=expect_lab)
    except (HostError, lifecycle.Refused) as e:
        raise CLIError(str(e)) from e
    for p in problems:
        say(f"left behind: {p}")
    say("down" if not problems else "down, with leftovers listed above")
    return 1 if problems else 0
