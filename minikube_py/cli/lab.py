"""`minikube-py lab`: a multi-node cluster on one machine (nodes are network namespaces)."""

from __future__ import annotations

import argparse
import os

from minikube_py.cli import down as down_cmd
from minikube_py.cli.clusterargs import add_paths, paths_from, port, say, seconds, toolbox
from minikube_py.cli.main import CLIError
from minikube_py.cli.up import report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lab = subparsers.add_parser("lab", help="a multi-node cluster on this machine (root)")
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")

    up = sub.add_parser("up", help="control plane on the host, N nodes as network namespaces")
    up.add_argument("--nodes", type=int, default=3, help="worker nodes (3)")
    up.add_argument("--control-planes", type=int, default=0,
                    help="control-plane nodes (1, 3, 5, 7), each with an etcd member, "
                         "api-server, scheduler, controller-manager, DNS and agent, behind a "
                         "floating API address; 0 (default): the control plane on the host")
    up.add_argument("--node-monitor-grace-period", type=seconds, default=None,
                    help="controller-manager: lease age before a node is NotReady (40s)")
    up.add_argument("--pod-eviction-timeout", type=seconds, default=None,
                    help="controller-manager: how long pods stay on an unreachable node (5m)")
    up.add_argument("--api-port", type=port, default=6443, help="api-server port (6443)")
    up.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for Ready")
    up.add_argument("--no-install", action="store_true", help="never run apt-get")
    add_paths(up)
    up.set_defaults(func=_up)

    down = sub.add_parser("down", help="stop the lab; nothing of it remains")
    add_paths(down)
    down.set_defaults(func=lambda args: down_cmd.run(_purging(args), expect_lab=True))

    ex = sub.add_parser("exec", help="run a command inside a node: lab exec NODE -- CMD ...")
    ex.add_argument("node", help="a lab node's name, e.g. mkp-lab-1")
    ex.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ...")
    add_paths(ex)
    ex.set_defaults(func=_exec)

    status = sub.add_parser("status", help="an HA lab's etcd members (role, raft index), "
                            "VIP holder and scheduler/controller-manager leaders")
    add_paths(status)
    status.set_defaults(func=_status)

    link = sub.add_parser("link", help="pull (down) or plug (up) a node's network cable")
    link.add_argument("node", help="a lab node's name, e.g. mkp-lab-1")
    link.add_argument("state", choices=["up", "down"])
    add_paths(link)
    link.set_defaults(func=_link)


def _purging(args: argparse.Namespace) -> argparse.Namespace:
    args.purge = False  # the lab's own state always goes; --purge would also drop the logs
    return args


def _up(args: argparse.Namespace) -> int:
    from minikube_py.cluster import lifecycle
    from minikube_py.cluster.components import ControllerTuning
    from minikube_py.cluster.host import HostError
    from minikube_py.cluster.lab import LabSpec

    try:
        spec = LabSpec(nodes=args.nodes, control_planes=args.control_planes)
    except ValueError as e:
        raise CLIError(str(e)) from e
    settings = lifecycle.UpSettings(
        paths=paths_from(args), api_port=args.api_port, lab=spec, ready_timeout=args.timeout,
        install_packages=not args.no_install,
        tuning=ControllerTuning(node_monitor_grace_period=args.node_monitor_grace_period,
                                pod_eviction_timeout=args.pod_eviction_timeout))
    try:
        result = lifecycle.up(settings, toolbox(), say)
    except (HostError, lifecycle.Refused, TimeoutError, RuntimeError) as e:
        raise CLIError(str(e)) from e
    code = report(result, settings.paths)
    if code == 0:
        print("  minikube-py lab exec NODE -- CMD   # e.g. lab exec "
              f"{result.state.nodes[0].name} -- ip -br addr\n", flush=True)
    return code


def _lab_node(args: argparse.Namespace) -> str:
    from minikube_py.cluster.state import ClusterState

    state = ClusterState.load(paths_from(args))
    if state is None or not state.is_lab:
        raise CLIError("no lab on this host (`minikube-py lab up --nodes 3` makes one)")
    node = state.node(args.node)
    if node is None or node.netns is None:
        raise CLIError(f"no node {args.node!r}; nodes: {', '.join(n.name for n in state.nodes)}")
    return node.netns


def _exec(args: argparse.Namespace) -> int:
    netns = _lab_node(args)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise CLIError("nothing to run: lab exec NODE -- CMD ...")
    try:
        os.execvp("ip", ["ip", "netns", "exec", netns, *cmd])
    except OSError as e:
        raise CLIError(f"cannot run `ip netns exec`: {e}") from e


def _status(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from minikube_py.cluster import ha_status
    from minikube_py.cluster.state import ClusterState

    state = ClusterState.load(paths_from(args))
    if state is None or not state.is_lab:
        raise CLIError("no lab on this host (`minikube-py lab up --nodes 3` makes one)")
    if state.vip is None:
        raise CLIError("this lab's control plane runs on the host (`lab up --control-planes "
                       "3` makes an HA one); see `minikube-py status`")
    sys.stdout.write(ha_status.render(asyncio.run(ha_status.collect(paths_from(args), state))))
    return 0


def _link(args: argparse.Namespace) -> int:
    from minikube_py.cluster import lab

    _lab_node(args)
    lab.set_link(args.node, args.state == "up")
    say(f"{args.node}: link {args.state}")
    return 0
