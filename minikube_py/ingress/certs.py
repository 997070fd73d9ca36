"""TLS material on disk for HAProxy: each Secret as one PEM (chain, then key) in a 0700
directory, files 0600, written atomically; a self-signed default certificate for names no
Secret covers (ingress-nginx's "Fake Certificate"), so the TLS port always serves.

A Secret is checked before it may reach the proxy (certificate and key parse, the key
matches the certificate, OpenSSL takes the pair): one bad Secret costs an Event, never the
whole configuration.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object
from minikube_py.durable import write_file

DEFAULT_NAME = "default"
DEFAULT_CN = "minikube-py ingress default certificate"


def pem_of(secret: Object) -> bytes:
    """The Secret's tls.crt and tls.key as one PEM; ValueError saying what is wrong."""
    data = as_dict(secret.get("data"))
    try:
        crt = base64.b64decode(str(data.get("tls.crt") or ""), validate=True)
        key = base64.b64decode(str(data.get("tls.key") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("tls.crt or tls.key is not base64") from None
    if not crt or not key:
        raise ValueError("tls.crt and tls.key are required")
    try:
        chain = x509.load_pem_x509_certificates(crt)
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"cannot load the certificate or key: {e}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if chain[0].public_key().public_bytes(encoding, public) != \
            private.public_key().public_bytes(encoding, public):
        raise ValueError("the private key does not match the certificate")
    pem = crt.rstrip(b"\n") + b"\n" + key.rstrip(b"\n") + b"\n"
    _openssl_loads(pem)
    return pem


@functools.lru_cache(maxsize=1024)
def _openssl_loads(pem: bytes) -> None:
    """ValueError unless OpenSSL loads the pair as HAProxy will: its security level refuses
    what `cryptography` reads (an RSA key under 2048 bits), and HAProxy then the whole file.
    From memory (memfd): the key is never on disk here. Remembered: ~2 ms, every sync."""
    fd = os.memfd_create("ingress-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, pem)
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(f"/proc/self/fd/{fd}")
    except ssl.SSLError as e:
        raise ValueError(f"OpenSSL refuses it: {(e.reason or str(e)).lower().replace('_', ' ')}"
                         ) from None
    finally:
        os.close(fd)


def self_signed() -> bytes:
    """A fresh P-256 certificate and key (PEM) for the default TLS answer."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEFAULT_CN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


class CertificateDir:
    """The directory HAProxy reads certificates from (0700)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self) -> None:
        """Create the directory (0700) and the default certificate if missing."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        if not self.file(DEFAULT_NAME).exists():
            write_file(self.file(DEFAULT_NAME), self_signed())

    def file(self, name: str) -> Path:
        return self.path / f"{name}.pem"

    def sync(self, pems: dict[str, bytes]) -> bool:
        """Make the directory hold exactly these PEMs (plus the default); True if any file
        changed (the proxy must reload to read them)."""
        changed = False
        for name, pem in pems.items():
            path = self.file(name)
            if not path.exists() or path.read_bytes() != pem:
                write_file(path, pem)
                changed = True
        keep = {self.file(n).name for n in pems} | {self.file(DEFAULT_NAME).name}
        for stale in self.path.glob("*.pem"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)
                changed = True
        return changed
