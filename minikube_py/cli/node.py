"""`minikube-py node remove NAME`: take a host out of the cluster for good (its etcd
member if it is a control plane, its Node, Lease and credentials): cluster/node_remove.py.
Run it on a control-plane host (it needs the etcd client certificate there)."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli import etcd_member
from minikube_py.cli.clusterargs import add_paths, admin_kubeconfig
from minikube_py.cli.main import CLIError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("node", help="manage the cluster's nodes")
    sub = p.add_subparsers(dest="node_command", required=True)
    remove = sub.add_parser("remove", help="remove a node for good (and its etcd member)")
    remove.add_argument("name", help="the node's name")
    remove.add_argument("--kubeconfig", type=Path, default=None,
                        help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    remove.add_argument("--etcd-servers", default=etcd_member.DEFAULT_SERVERS,
                        help="etcd members to ask (default: this host's, "
                             f"{etcd_member.DEFAULT_SERVERS}); '' for a cluster without etcd "
                             "members on its hosts")
    etcd_member.add_data_dir(remove)
    etcd_member.add_tls_flags(remove)
    add_paths(remove)
    remove.set_defaults(func=_remove)
    mark = sub.add_parser(
        "mark-control-plane",
        help="label a control-plane host's Node node-role.kubernetes.io/control-plane "
             "(kubeadm's mark-control-plane; NodeRestriction keeps its agent from doing it)")
    mark.add_argument("name", help="the node's name")
    mark.add_argument("--kubeconfig", type=Path, default=None,
                      help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    mark.add_argument("--timeout", type=float, default=120.0,
                      help="seconds to wait for the Node to register")
    add_paths(mark)
    mark.set_defaults(func=_mark_control_plane)


def _mark_control_plane(args: argparse.Namespace) -> int:
    import asyncio

    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.cluster import ha

    async def mark() -> None:
        async with ApiClient.from_kubeconfig(admin_kubeconfig(args), retries=1) as client:
            await ha.mark_control_plane(client, args.name, args.timeout)

    try:
        asyncio.run(mark())
    except (ClientError, ConfigError, OSError, TimeoutError) as e:
        raise CLIError(f"cannot mark node {args.name}: {e}") from e
    print(f'node/{args.name} labeled {ha.ROLE_LABEL}=""')
    return 0


def _remove(args: argparse.Namespace) -> int:
    import asyncio

    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.cluster import node_remove
    from minikube_py.store.members import MembershipError

    kubeconfig = admin_kubeconfig(args)
    servers = [s for s in args.etcd_servers.split(",") if s]
    tls = etcd_member.client_tls(args, servers[0]) if servers else None

    async def remove() -> node_remove.Removed:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            return await node_remove.remove(client, args.name, servers, tls)

    try:
        removed = asyncio.run(remove())
    except (MembershipError, ClientError, ConfigError, OSError) as e:
        raise CLIError(f"cannot remove node {args.name}: {e}") from e
    if not removed.node and removed.member_id is None:
        raise CLIError(f'nodes "{args.name}" not found')
    member = f" (etcd member {removed.member_id:x} removed)" if removed.member_id else ""
    print(f'node "{args.name}" deleted{member}')
    return 0
