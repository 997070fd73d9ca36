"""`minikube-py token create|list|delete`: bootstrap tokens other hosts `join` with, as
kubeadm's `token` commands (a token joins one node and expires, 24 h by default)."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli.clusterargs import add_paths, admin_kubeconfig, seconds
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
    create.add_argument("--description", default="",
                        help="a human-friendly description of what the token is for")
    add_paths(create)
    create.set_defaults(func=_create)
    listing = sub.add_parser("list", help="list the bootstrap tokens (kubeadm's columns)")
    listing.add_argument("--kubeconfig", type=Path, default=None,
                         help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    add_paths(listing)
    listing.set_defaults(func=_list)
    delete = sub.add_parser("delete", help="delete bootstrap tokens (by id or whole token)")
    delete.add_argument("tokens", nargs="+", metavar="TOKEN",
                        help="abcdef or abcdef.0123456789abcdef")
    delete.add_argument("--kubeconfig", type=Path, default=None,
                        help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    add_paths(delete)
    delete.set_defaults(func=_delete)


def _columns(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns three spaces apart (kubeadm's tabwriter)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in rows)


def _list(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from minikube_py.api.resources import SECRETS
    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.cluster import tokens

    kubeconfig = admin_kubeconfig(args)

    async def secrets() -> list[dict[str, object]]:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            listed = await client.list(SECRETS, "kube-system",
                                       field_selector=f"type={tokens.BOOTSTRAP_TYPE}")
            return list(listed.get("items") or [])

    try:
        items = asyncio.run(secrets())
    except (ClientError, ConfigError, OSError) as e:
        raise CLIError(f"cannot list tokens: {e}") from e
    now = datetime.now(UTC)
    rows = [row for item in items if (row := tokens.token_row(item, now)) is not None]
    if rows:
        print(_columns([tokens.LIST_HEADER, *sorted(rows)]))
    return 0


def _delete(args: argparse.Namespace) -> int:
    import asyncio
    import re

    from minikube_py.api.resources import SECRETS
    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError, NotFound

    ids = []
    for given in args.tokens:
        match = re.fullmatch(r"([a-z0-9]{6})(\.[a-z0-9]{16})?", given)
        if match is None:
            raise CLIError(f"given token didn't match pattern \"[a-z0-9]{{6}}\" or "
                           f"\"[a-z0-9]{{6}}\\.[a-z0-9]{{16}}\": {given!r}")
        ids.append(match.group(1))
    kubeconfig = admin_kubeconfig(args)

    async def delete() -> None:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            for token_id in ids:
                try:
                    await client.delete(SECRETS, f"bootstrap-token-{token_id}",
                                        namespace="kube-system")
                except NotFound:
                    raise CLIError(f'bootstrap token "{token_id}" not found') from None
                print(f'bootstrap token "{token_id}" deleted')

    try:
        asyncio.run(delete())
    except (ClientError, ConfigError, OSError) as e:
        raise CLIError(f"cannot delete tokens: {e}") from e
    return 0


def _create(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import timedelta

    from minikube_py.api.resources import SECRETS
    from minikube_py.client import ApiClient, load_kubeconfig
    from minikube_py.client.errors import ClientError, ConfigError, NotFound
    from minikube_py.cluster import kubeconfigs, tokens

    if args.ttl <= 0:
        raise CLIError("--ttl must be positive")
    kubeconfig = admin_kubeconfig(args)
    token = tokens.new_token()

    async def create(ca_pem: bytes) -> str:
        async with ApiClient(config=config, retries=1) as client:
            if args.server:  # (re)publish where joining hosts reach us (bare metal, Vagrant)
                await kubeconfigs.publish_cluster_info(client, args.server, ca_pem)
                server = str(args.server)
            else:  # before the token exists: a token nobody is told is a door left open
                try:
                    server = await kubeconfigs.cluster_info_server(client)
                except NotFound:
                    raise CLIError("no kube-public/cluster-info (`up` and install.sh publish "
                                   "it): give --server, where joining hosts reach the "
                                   "api-server") from None
            await client.create(SECRETS, tokens.token_secret(
                token, timedelta(seconds=args.ttl), description=args.description))
            return server

    try:
        config = load_kubeconfig(kubeconfig)
        ca_pem = config.ca_data
        if ca_pem is None:  # joining hosts pin it by hash
            raise CLIError(f"{kubeconfig}: its cluster has no certificate-authority")
        ca_hash = tokens.ca_hash(ca_pem)
        server = asyncio.run(create(ca_pem))
    except (ClientError, ConfigError, ValueError, OSError) as e:
        raise CLIError(f"cannot create a token: {e}") from e
    if args.print_join_command:
        print(f"minikube-py join --server {server} --token {token} --ca-cert-hash {ca_hash}")
    else:
        print(token)
    return 0

