"""Writing a host component's own kubeconfig from the admin's: what `up` does itself;
systemd hosts run `minikube-py dns-credentials` / `ingress-credentials` from install.sh."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from minikube_py.client import ApiClient, load_kubeconfig

Writer = Callable[[ApiClient, str, bytes, Path], Awaitable[None]]


def add_credentials_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
                           name: str, what: str, summary: str) -> argparse.ArgumentParser:
    """`<component>-credentials` with the flags every one of them takes; the caller adds
    its own and sets `func`."""
    c = subparsers.add_parser(name, help=summary)
    c.add_argument("--kubeconfig", required=True, help="admin kubeconfig")
    c.add_argument("--output", required=True, help=f"where to write the {what}'s kubeconfig "
                                                    "(0600)")
    c.add_argument("--server", default=None,
                   help=f"api-server URL the {what} uses (default: the admin kubeconfig's)")
    return c


def write_identity_kubeconfig(write: Writer, what: str, admin_path: str, output: str,
                              server: str | None) -> None:
    """`write(client, server, ca_pem, output)` with an admin client; CLIError on failure."""
    from minikube_py.cli.main import CLIError
    from minikube_py.client.errors import ClientError

    if not Path(admin_path).is_file():
        raise CLIError(f"--kubeconfig {admin_path}: no such file")
    admin = load_kubeconfig(admin_path)
    if admin.ca_data is None:  # the written kubeconfig pins the CA: it needs one to pin
        raise CLIError(f"--kubeconfig {admin_path}: its cluster has no certificate-authority")
    ca_pem = admin.ca_data

    async def run() -> None:
        async with ApiClient(config=admin, retries=1) as client:
            await write(client, server or admin.server, ca_pem, Path(output))

    try:
        asyncio.run(run())
    except ClientError as e:
        raise CLIError(f"could not write the {what} kubeconfig: {e}") from None
