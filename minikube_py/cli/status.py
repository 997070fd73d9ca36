"""`minikube-py status`: every component's health; exit 1 if one is down."""

from __future__ import annotations

import argparse

from minikube_py.cli.clusterargs import add_paths, paths_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "status", help="health of every component of this host's cluster",
        description="One line per component, read from outside: the supervisor and each "
                    "process alive, the api-server's /readyz, the scheduler's and "
                    "controller-manager's Leases renewed, a DNS server in the kube-dns "
                    "Endpoints, each node Ready. Exit 1 if any is down.")
    add_paths(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from minikube_py.cluster import status
    from minikube_py.cluster.state import ClusterState

    paths = paths_from(args)
    state = ClusterState.load(paths)
    if state is None:
        print("no cluster on this host (`minikube-py up` starts one)")
        return 1
    checks = status.collect(paths, state)
    width = max(len(c.name) for c in checks)
    print(f"{state.kind} cluster, nodes: {', '.join(n.name for n in state.nodes)}")
    for c in checks:
        print(f"  {'OK  ' if c.ok else 'DOWN'}  {c.name:<{width}}  {c.detail}")
    return 0 if all(c.ok for c in checks) else 1
