"""`minikube-py token create`: a bootstrap token other hosts `join` with."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli.clusterargs import add_paths, paths_from, seconds
from minikube_py.cli.main import CLIError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("token", help="bootstrap tokens for joining nodes")
    sub = p.add_subparsers(dest="token_command", required=True, metavar="TOKEN_COMMAND")
    create = sub.add_parser("create", help="print a new bootstrap token (and the join command)")
    create.add_argument("--ttl", type=seconds, default=24 * 3600.0,
                        help="how long the token is valid (24h; e.g. 30m, 2h)")
    create.add_argument("--kubeconfig", type=Path, default=None,
                        help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    create.add_argument("--server", default=None,
                        help="api-server URL joining hosts use; published in kube-public/cluster-info "
                             "(default: the address `up` published)")
    create.add_argument("--print-join-command", action="store_true",
                        help="print the whole `minikube-py join ...` line instead of the token")
    add_paths(create)
    create.set_defaults(func=_create)


def _create(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import timedelta

    from minikube_py.api.resources import SECRETS
    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.cluster import kubeconfigs, tokens

    if args.ttl <= 0:
        raise CLIError("--ttl must be positive")
    kubeconfig = args.kubeconfig or paths_from(args).admin_conf
    if not kubeconfig.exists():
        raise CLIError(f"no {kubeconfig}: run this on the control plane (after `minikube-py up`)")
    token = tokens.new_token()

    async def create() -> str:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            if args.server:  # (re)publish where joining hosts reach us (bare metal, Vagrant)
                await kubeconfigs.publish_cluster_info(client, args.server, ca_pem)
            await client.create(SECRETS, tokens.token_secret(token, timedelta(seconds=args.ttl)))
            return args.server or await kubeconfigs.cluster_info_server(client)

    try:
        ca_pem = kubeconfigs.ca_data(kubeconfigs.load(kubeconfig))
        ca_hash = tokens.ca_hash(ca_pem)
        server = asyncio.run(create())
    except (ClientError, ConfigError, ValueError, OSError) as e:
        raise CLIError(f"cannot create a token: {e}") from e
    if args.print_join_command:
        print(f"minikube-py join --server {server} --token {token} --ca-cert-hash {ca_hash}")
    else:
        print(token)
    return 0

