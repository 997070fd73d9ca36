"""`minikube-py encryption rewrite`: store every Secret again, sealed with the current key."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli.clusterargs import add_paths, paths_from
from minikube_py.cli.main import CLIError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("encryption", help="encryption of data at rest")
    sub = p.add_subparsers(dest="encryption_command", required=True,
                           metavar="ENCRYPTION_COMMAND")
    rewrite = sub.add_parser(
        "rewrite", help="rewrite every Secret so it is sealed with the first provider's key "
                        "(after a key rotation), as `kubectl get secrets -A -o json | "
                        "kubectl replace -f -` does")
    rewrite.add_argument("--resource", action="append", default=[], metavar="PLURAL[.GROUP]",
                         help="rewrite this kind instead of secrets (repeatable)")
    rewrite.add_argument("--kubeconfig", type=Path, default=None,
                         help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    add_paths(rewrite)
    rewrite.set_defaults(func=_rewrite)


def _rewrite(args: argparse.Namespace) -> int:
    import asyncio

    from minikube_py.api import resources
    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError
    from minikube_py.cluster.rewrite import rewrite_all

    kinds = []
    for name in args.resource or ["secrets"]:
        plural, _, group = name.partition(".")
        found = [r for r in resources.ALL if r.plural == plural and r.group == group]
        if not found:
            raise CLIError(f"unknown resource {name!r} (e.g. secrets, configmaps)")
        kinds.append(found[0])
    kubeconfig = args.kubeconfig or paths_from(args).admin_conf

    async def rewrite() -> None:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            for resource in kinds:
                done = await rewrite_all(client, resource)
                print(f"{resource.plural}: {done.written} rewritten, {done.skipped} changed "
                      "or deleted meanwhile (already current)")

    try:
        asyncio.run(rewrite())
    except (ClientError, OSError) as e:
        raise CLIError(f"cannot rewrite: {e}") from e
    return 0
