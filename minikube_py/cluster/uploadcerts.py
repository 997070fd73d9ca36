"""The control plane's shared PKI handed to a joining control-plane host, as kubeadm's
`upload-certs` does it.

Every control-plane host needs the same CAs, service-account keys, tokens and Secrets
encryption key (any api-server must accept any credential and read any Secret); its serving,
etcd server and peer certificates it issues for itself. The shared files go into the Secret
kube-system/kubeadm-certs, each one AES-256-GCM encrypted with a certificate key that is
printed once and never stored in the cluster, so reading the Secret is not enough. The
Secret is owned by a bootstrap token that expires after `ttl` (2 h, as kubeadm): the
token cleaner deletes the token then, and the garbage collector the Secret with it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from datetime import timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minikube_py.api.resources import SECRETS
from minikube_py.api.secret import UPLOADED_CERTS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.cluster import tokens
from minikube_py.durable import write_file

SECRET_NAME = UPLOADED_CERTS
NAMESPACE = "kube-system"
TTL = timedelta(hours=2)
# Issued by each host for its own addresses, never shared.
OWN = frozenset({"apiserver.crt", "apiserver.key", "etcd/server.crt", "etcd/server.key",
                 "etcd/peer.crt", "etcd/peer.key"})
_PUBLIC = (".crt", ".pub")  # written 0644, the rest 0600


class CertsError(Exception):
    """The shared certificates could not be handed over; the message says why."""


def new_key() -> str:
    """A certificate key: 32 random bytes, hex (kubeadm's --certificate-key)."""
    return secrets.token_hex(32)


def shared_files(pki_dir: Path) -> dict[str, bytes]:
    """The files every control-plane host shares, by path relative to `pki_dir`."""
    return {str(p.relative_to(pki_dir)): p.read_bytes() for p in sorted(pki_dir.rglob("*"))
            if p.is_file() and str(p.relative_to(pki_dir)) not in OWN}


def write_shared(pki_dir: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        write_file(pki_dir / name, data, mode=0o644 if name.endswith(_PUBLIC) else 0o600)


def _cipher(key: str) -> AESGCM:
    try:
        raw = bytes.fromhex(key)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise CertsError("--certificate-key must be 64 hex digits (32 bytes), as "
                         "`minikube-py upload-certs` prints it")
    return AESGCM(raw)


def _data_key(name: str) -> str:
    """Secret data keys cannot hold '/': etcd/ca.key is stored as etcd..ca.key."""
    return name.replace("/", "..")


def encrypt(files: dict[str, bytes], key: str) -> dict[str, str]:
    """The Secret's data: each file sealed on its own (nonce + ciphertext, its name bound
    as associated data so entries cannot be swapped)."""
    aes = _cipher(key)
    out = {}
    for name, data in files.items():
        nonce = os.urandom(12)
        sealed = nonce + aes.encrypt(nonce, data, name.encode())
        out[_data_key(name)] = base64.b64encode(sealed).decode()
    return out


def decrypt(data: dict[str, str], key: str) -> dict[str, bytes]:
    aes = _cipher(key)
    out = {}
    for field, value in data.items():
        name = field.replace("..", "/")
        if name.startswith("/") or ".." in Path(name).parts:
            raise CertsError(f"{SECRET_NAME} holds an unsafe file name {name!r}")
        try:
            sealed = base64.b64decode(value, validate=True)
            out[name] = aes.decrypt(sealed[:12], sealed[12:], name.encode())
        except (InvalidTag, binascii.Error, ValueError) as e:
            raise CertsError(f"cannot decrypt {name} of secret {NAMESPACE}/{SECRET_NAME}: "
                             "wrong --certificate-key?") from e
    return out


async def upload(client: ApiClient, pki_dir: Path, key: str, ttl: timedelta = TTL) -> None:
    """(Re)place kube-system/kubeadm-certs with `pki_dir`'s shared files sealed with `key`,
    owned by a bootstrap token (usable for nothing) that expires after `ttl`."""
    sealed = encrypt(shared_files(pki_dir), key)  # a bad key fails before anything is made
    proxy = tokens.token_secret(tokens.new_token(), ttl, description=(
        f"Proxy for managing TTL for the {SECRET_NAME} secret"))
    for usage in ("usage-bootstrap-authentication", "usage-bootstrap-signing",
                  "auth-extra-groups"):
        del proxy["data"][usage]
    owner = await client.create(SECRETS, proxy, NAMESPACE)
    secret: Object = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": SECRET_NAME, "namespace": NAMESPACE, "ownerReferences": [{
            "apiVersion": "v1", "kind": "Secret", "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True,
            "controller": True}]},
        "data": sealed}
    try:
        await client.delete(SECRETS, SECRET_NAME, NAMESPACE)
    except NotFound:
        pass
    await client.create(SECRETS, secret, NAMESPACE)


async def download(client: ApiClient, key: str) -> dict[str, bytes]:
    """The shared files, decrypted; CertsError when they expired or the key is wrong."""
    try:
        secret = await client.get(SECRETS, SECRET_NAME, NAMESPACE)
    except NotFound as e:
        raise CertsError(f"secret {NAMESPACE}/{SECRET_NAME} not found: the uploaded "
                         "certificates expired (2 h); run `minikube-py upload-certs` on a "
                         "control-plane host again") from e
    return decrypt(secret.get("data") or {}, key)
