"""`minikube-py ui`: the cluster on one live page (minikube_py/ui)."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from minikube_py.cli.clusterargs import add_paths, paths_from
from minikube_py.cli.main import CLIError

if TYPE_CHECKING:
    from minikube_py.cluster.paths import ClusterPaths

UI_ACCOUNT = ("kube-system", "minikube-py-ui")
TOKEN_SECONDS = 3600


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "ui", help="serve a live web view of the cluster (read-only)",
        description="Serves one page over HTTPS (a certificate from the cluster CA) that "
                    "shows nodes, pods, the overlay, Services and events, updated live from "
                    "watches. The page asks for a bearer token and reads the cluster as "
                    "that token's user; --open prints a URL carrying a token of the "
                    "read-only kube-system/minikube-py-ui service account, valid for an hour.")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8443, help="port to listen on (8443)")
    p.add_argument("--open", action="store_true",
                   help="print a URL with a short-lived read-only token")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    p.add_argument("--pki-dir", type=Path, default=None,
                   help="where the cluster CA's ca.crt and ca.key are (default: the "
                        "api-server's pki dir of the cluster up or lab made here)")
    add_paths(p)
    p.set_defaults(func=_ui)


def _ui(args: argparse.Namespace) -> int:
    import asyncio
    import ipaddress

    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.client.kubeconfig import ClientConfig, load_kubeconfig

    paths = paths_from(args)
    kubeconfig = args.kubeconfig or paths.admin_conf
    if not kubeconfig.exists():
        raise CLIError(f"no {kubeconfig}: is a cluster up?")
    try:
        ipaddress.ip_address(args.address)
    except ValueError:
        raise CLIError(f"--address must be an IP address, not {args.address!r}") from None
    if not 0 < args.port < 65536:
        raise CLIError(f"--port {args.port}: must be 1-65535")
    try:
        admin = load_kubeconfig(kubeconfig)
        upstream_tls = ClientConfig(admin.server, ca_data=admin.ca_data).ssl_context()
        tls = _serving_tls(paths, args.pki_dir, args.address)
        url = f"https://{args.address}:{args.port}/"
        if args.open:
            url += "#token=" + asyncio.run(_viewer_token(kubeconfig))
    except (ClientError, ConfigError, OSError, ValueError) as e:
        raise CLIError(f"ui: {e}") from e
    return _serve(admin.server, upstream_tls, tls, args.address, args.port, url)


def _serving_tls(paths: ClusterPaths, pki_dir: Path | None, address: str) -> ssl.SSLContext:
    """A serving certificate for the page from the cluster CA (made at each start)."""
    from minikube_py.apiserver import pki

    dirs = [pki_dir] if pki_dir else [paths.apiserver_dir(lab) / "pki" for lab in (False, True)]
    found = [ca for d in dirs if (ca := pki.load_ca(d / "ca.crt", d / "ca.key")) is not None]
    if not found:
        raise CLIError("no cluster CA (ca.crt/ca.key) here: run `ui` on the control plane "
                       "or give --pki-dir")
    ca = found[0]
    out = paths.state_dir / "ui"
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    ips = list(dict.fromkeys([address, "127.0.0.1", *pki.host_addresses()]))
    cert, key = pki.issue(*ca, common_name="minikube-py-ui", ips=ips, dns_names=["localhost"])
    pki.write_pair(out / "ui.crt", out / "ui.key", cert, key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(out / "ui.crt", out / "ui.key")
    return ctx


async def _viewer_token(kubeconfig: Path) -> str:
    """A one-hour token of the read-only service account (made, and bound, if missing)."""
    from minikube_py.api.resources import CLUSTERROLEBINDINGS, SERVICEACCOUNTS
    from minikube_py.apiserver.bootstrap_policy import UI_VIEWER
    from minikube_py.client import ApiClient
    from minikube_py.client.errors import AlreadyExists

    namespace, name = UI_ACCOUNT
    async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
        try:
            await client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": name}}, namespace)
        except AlreadyExists:
            pass
        try:
            await client.create(CLUSTERROLEBINDINGS, {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": UI_VIEWER},
                "subjects": [{"kind": "ServiceAccount", "name": name,
                              "namespace": namespace}]})
        except AlreadyExists:
            pass
        review = await client.create(SERVICEACCOUNTS, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS}}, namespace, subresource="token",
            name=name)
    return str(review["status"]["token"])


def _serve(server: str, upstream_tls: ssl.SSLContext | None, tls: ssl.SSLContext,
           address: str, port: int, url: str) -> int:
    import asyncio

    from aiohttp import web

    from minikube_py.lifetime import run_until_signalled
    from minikube_py.ui.server import UiServer

    async def run() -> None:
        runner = web.AppRunner(UiServer(server, upstream_tls).app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, address, port, ssl_context=tls).start()
        print(f"minikube-py ui on {url}", flush=True)  # listening: the URL works now
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    run_until_signalled(run)
    return 0
