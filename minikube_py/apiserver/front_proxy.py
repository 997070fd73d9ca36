"""The front-proxy identity: how the api-server tells aggregated servers who asked.

As kubeadm sets kube-apiserver up: a CA of its own (front-proxy-ca, not the cluster CA,
so no ordinary client certificate can pose as the proxy) signs one client certificate
(CN front-proxy-client) that the api-server presents when it proxies a request to an
aggregated server, with the user in X-Remote-User / X-Remote-Group /
X-Remote-Extra-<key>. The aggregated server trusts those headers only over a connection
that presented a certificate from that CA with an allowed name (its --requestheader-*
flags); it learns both from the kube-system/extension-apiserver-authentication ConfigMap
the api-server publishes.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube_py.api.types import Object
from minikube_py.durable import write_file

log = logging.getLogger(__name__)

CLIENT_NAME = "front-proxy-client"
USERNAME_HEADERS = ("X-Remote-User",)
GROUP_HEADERS = ("X-Remote-Group",)
EXTRA_PREFIXES = ("X-Remote-Extra-",)
CONFIGMAP_NAMESPACE, CONFIGMAP_NAME = "kube-system", "extension-apiserver-authentication"
_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class FrontProxyPki:
    ca_cert: Path
    ca_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
           key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + _VALIDITY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            True, False, False, False, False, True, True, False, False), critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure(pki_dir: Path) -> FrontProxyPki:
    """Create the front-proxy CA and client certificate in D/pki unless both exist."""
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = FrontProxyPki(pki_dir / "front-proxy-ca.crt", pki_dir / "front-proxy-ca.key",
                          pki_dir / "front-proxy-client.crt", pki_dir / "front-proxy-client.key")
    if all(p.exists() for p in (paths.ca_cert, paths.ca_key, paths.client_cert,
                                paths.client_key)):
        return paths
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("front-proxy-ca", _name("front-proxy-ca"), ca_key, ca_key, ca=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(CLIENT_NAME, ca.subject, ca_key, client_key, ca=False)
    write_file(paths.ca_key, _key_pem(ca_key))
    write_file(paths.client_key, _key_pem(client_key))
    write_file(paths.client_cert, _pem(client), mode=0o644)
    write_file(paths.ca_cert, _pem(ca), mode=0o644)  # last: its presence means the set is complete
    log.info("created front-proxy CA and client certificate path=%s", paths.ca_cert)
    return paths


def authentication_configmap(client_ca: bytes, front_proxy_ca: bytes) -> Object:
    """kube-system/extension-apiserver-authentication, keys as kube-apiserver writes them."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE}, "data": {
        "client-ca-file": client_ca.decode(),
        "requestheader-client-ca-file": front_proxy_ca.decode(),
        "requestheader-allowed-names": json.dumps([CLIENT_NAME]),
        "requestheader-username-headers": json.dumps(list(USERNAME_HEADERS)),
        "requestheader-group-headers": json.dumps(list(GROUP_HEADERS)),
        "requestheader-extra-headers-prefix": json.dumps(list(EXTRA_PREFIXES))}}
