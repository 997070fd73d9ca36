"""`minikube-py up`: a single-node cluster on this host, with one command."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from minikube_py.cli.clusterargs import add_paths, ipv4, paths_from, port, say, toolbox
from minikube_py.cli.main import CLIError

if TYPE_CHECKING:
    from minikube_py.cluster.lifecycle import UpResult
    from minikube_py.cluster.paths import ClusterPaths


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "up", help="start a single-node cluster on this host (root)",
        description="Install what is missing, start dockerd if needed, then etcd, api-server, "
                    "scheduler, controller-manager, DNS, metrics server, ingress controller "
                    "and agent under a supervisor; wait until the node is Ready. Safe to run "
                    "again.")
    p.add_argument("--api-port", type=port, default=6443, help="api-server port (6443)")
    p.add_argument("--node-name", help="node name (default: the hostname)")
    p.add_argument("--node-ip", type=ipv4, help="node address (default: this host's primary IPv4)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for Ready")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    p.add_argument("--sample-app", action="store_true",
                   help="then deploy the sample app (3 httpd pods + Service) and query it")
    add_paths(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from minikube_py.cluster import lifecycle
    from minikube_py.cluster.host import HostError

    settings = lifecycle.UpSettings(
        paths=paths_from(args), api_port=args.api_port, node_name=args.node_name,
        node_ip=args.node_ip, ready_timeout=args.timeout, install_packages=not args.no_install)
    try:
        result = lifecycle.up(settings, toolbox(), say)
    except (HostError, lifecycle.Refused, TimeoutError, RuntimeError) as e:
        raise CLIError(str(e)) from e
    code = report(result, settings.paths)
    if code == 0 and args.sample_app:
        from minikube_py.cluster import sample_app

        try:
            sample_app.run(settings.paths.admin_conf, say)
        except (TimeoutError, RuntimeError) as e:
            raise CLIError(f"sample app: {e}") from e
    return code


def report(result: UpResult, paths: ClusterPaths) -> int:
    """What people need next: how to use kubectl, what is missing; the exit code."""
    state = result.state
    nodes = ", ".join(f"{n.name} ({n.ip})" for n in state.nodes)
    if result.already_running:
        say(f"already running: {state.kind} cluster, nodes {nodes}, "
            f"api-server https://127.0.0.1:{state.api_port}")
    elif result.missing:
        say(f"NOT complete: this build has no `minikube-py {' / '.join(result.missing)}` yet; "
            "started what exists")
    else:
        ready = f"{result.seconds_to_ready:.1f} s" if result.seconds_to_ready else "?"
        say(f"cluster ready: nodes {nodes} Ready after {ready}")
    print(f"\n  export KUBECONFIG={paths.admin_conf}\n  kubectl get nodes -o wide\n"
          "  minikube-py status          # health of every component\n"
          f"  minikube-py {'lab ' if state.is_lab else ''}down"
          f"{'' if state.is_lab else '            # stop (--purge: forget the state)'}\n",
          flush=True)
    return 2 if result.missing else 0
