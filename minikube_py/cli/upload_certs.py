"""`minikube-py upload-certs`: seal this control-plane host's shared PKI into the Secret
kube-system/kubeadm-certs for hosts joining as control planes, as `kubeadm init phase
upload-certs --upload-certs` (cluster/uploadcerts.py). Prints the certificate key."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli.clusterargs import add_paths, admin_kubeconfig, paths_from
from minikube_py.cli.main import CLIError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "upload-certs", help="share the control plane's certificates with joining "
                             "control-plane hosts (encrypted, for 2 h); prints the key")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="the api-server's --data-dir (default /var/lib/minikube-py/apiserver)")
    p.add_argument("--certificate-key", default="",
                   help="64 hex digits to seal with (default: a new random key)")
    add_paths(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.cluster import uploadcerts

    kubeconfig = admin_kubeconfig(args)
    pki_dir = (args.data_dir or paths_from(args).apiserver_dir(False)) / "pki"
    if not (pki_dir / "ca.key").exists():
        raise CLIError(f"no {pki_dir / 'ca.key'}: run this on a control-plane host")
    key = args.certificate_key or uploadcerts.new_key()

    async def upload() -> None:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            await uploadcerts.upload(client, pki_dir, key)

    try:
        asyncio.run(upload())
    except (uploadcerts.CertsError, ClientError, ConfigError, OSError) as e:
        raise CLIError(f"cannot upload the certificates: {e}") from e
    print(key)
    return 0
