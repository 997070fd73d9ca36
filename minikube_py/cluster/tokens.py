"""Bootstrap tokens and CA pinning, as kubeadm does them (docs/interfaces.md, "Node
credentials").

A bootstrap token `<id>.<secret>` lives in a Secret `kube-system/bootstrap-token-<id>` with
an expiration; a joining host proves it has one, and pins the cluster's CA by the sha256
of its SubjectPublicKeyInfo so that it never sends the token to an impostor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import NameOID

from minikube_py.api.meta import format_time, parse_time
from minikube_py.api.secret import BOOTSTRAP_TOKEN, NODE_CREDENTIALS_TYPE

TOKEN_RE = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
HASH_RE = re.compile(r"sha256:([0-9a-f]{64})")
NODE_TOKEN_PREFIX = "mkpnode"
BOOTSTRAP_TYPE = BOOTSTRAP_TOKEN
NODE_LABEL = "minikube-py.io/node"
SERVING_CSR, SERVING_CERT = "kubelet-serving.csr", "kubelet-serving.crt"
EXTRA_GROUPS = "system:bootstrappers:minikube-py:default-node-token"
_ALPHABET = string.ascii_lowercase + string.digits


def new_token() -> str:
    """A fresh `<6>.<16>` token from the CSPRNG."""
    return f"{_random(6)}.{_random(16)}"


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def parse_token(token: str) -> tuple[str, str]:
    """(id, secret); ValueError naming the expected shape."""
    m = TOKEN_RE.fullmatch(token)
    if m is None:
        raise ValueError("a bootstrap token looks like abcdef.0123456789abcdef ([a-z0-9]{6}.[a-z0-9]{16})")
    return m.group(1), m.group(2)


def token_secret(token: str, ttl: timedelta, now: datetime | None = None,
                 description: str = "") -> dict[str, Any]:
    """The Secret that makes `token` valid for `ttl`."""
    token_id, secret = parse_token(token)
    expires = (now or datetime.now(UTC)) + ttl
    data = {
        "token-id": token_id, "token-secret": secret,
        "expiration": format_time(expires),
        "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
        "auth-extra-groups": EXTRA_GROUPS,
        "description": description,
    }
    return {"apiVersion": "v1", "kind": "Secret", "type": BOOTSTRAP_TYPE,
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def short_human_duration(seconds: float) -> str:
    """apimachinery's duration.ShortHumanDuration (kubeadm's TTL column): 45s, 59m, 23h,
    6d, 2y; '<invalid>' once in the past."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    for limit, unit, size in ((60, "s", 1), (3600, "m", 60), (86400, "h", 3600),
                              (86400 * 365, "d", 86400)):
        if s < limit:
            return f"{s // size}{unit}"
    return f"{s // (86400 * 365)}y"


LIST_HEADER = ("TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS")


def token_row(secret: Mapping[str, Any], now: datetime) -> tuple[str, ...] | None:
    """kubeadm token list's row for a bootstrap-token Secret; None if it is not one."""
    def field(key: str) -> str:
        raw = (secret.get("data") or {}).get(key)
        try:
            return base64.b64decode(raw).decode() if isinstance(raw, str) else ""
        except ValueError:
            return ""
    token_id, token_secret_ = field("token-id"), field("token-secret")
    if secret.get("type") != BOOTSTRAP_TYPE or TOKEN_RE.fullmatch(
            f"{token_id}.{token_secret_}") is None:
        return None
    ttl, expires = "<forever>", "<never>"
    if expiration := field("expiration"):
        try:
            when = parse_time(expiration)
        except ValueError:
            ttl = expires = "<invalid>"
        else:
            ttl = short_human_duration((when - now).total_seconds())
            expires = format_time(when)
    usages = ",".join(u for u in ("authentication", "signing")
                      if field(f"usage-bootstrap-{u}") == "true")
    return (f"{token_id}.{token_secret_}", ttl, expires, usages,
            field("description") or "<none>", field("auth-extra-groups"))


def ca_hash(ca_pem: bytes) -> str:
    """kubeadm's discovery hash: sha256 of the CA certificate's DER SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def parse_hash(text: str) -> str:
    text = text.strip().lower()
    if HASH_RE.fullmatch(text) is None:
        raise ValueError("--ca-cert-hash looks like sha256:<64 hex digits> (`token create` prints it)")
    return text


def hash_matches(ca_pem: bytes, expected: str) -> bool:
    return hmac.compare_digest(ca_hash(ca_pem), expected)


def new_node_token(node: str) -> str:
    """The node's own bearer token: the api-server maps it to system:node:<node>."""
    return f"{NODE_TOKEN_PREFIX}:{node}:{secrets.token_hex(32)}"


def serving_request(node: str, ips: Sequence[str]) -> tuple[bytes, bytes]:
    """(key PEM, CSR PEM) for the node's kubelet serving certificate: CN system:node:<node>,
    O system:nodes, the node's name and addresses as SANs (what the api-server signs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes")])
    sans: list[x509.GeneralName] = [x509.DNSName(node)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    csr = (x509.CertificateSigningRequestBuilder().subject_name(subject)
           .add_extension(x509.SubjectAlternativeName(sans), critical=False)
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return key_pem, csr.public_bytes(Encoding.PEM)


def node_credentials_secret(node: str, token: str, serving_csr: bytes = b""
                            ) -> dict[str, Any]:
    """What the api-server checks a node token against (only the token's sha256), and the
    request for the node's serving certificate, which the api-server replaces with it."""
    data = {"node-name": node, "token-sha256": hashlib.sha256(token.encode()).hexdigest()}
    if serving_csr:
        data[SERVING_CSR] = serving_csr.decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": NODE_CREDENTIALS_TYPE,
            "metadata": {"name": f"node-credentials-{node}", "namespace": "kube-system",
                         "labels": {NODE_LABEL: node}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
