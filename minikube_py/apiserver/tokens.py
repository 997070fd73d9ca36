"""Bearer tokens that live in the cluster: service accounts, bootstrap tokens, nodes.

- Service-account JWTs (RS256, legacy secret-token claims) verified with D/pki/sa.pub,
  valid while their Secret exists.
- Bootstrap tokens `<id>.<secret>` checked against Secret kube-system/bootstrap-token-<id>
  (constant-time, not expired, usage-bootstrap-authentication).
- Node tokens `mkpnode:<node>:<hex>` whose sha256 matches Secret
  kube-system/node-credentials-<node>.
Secrets are read from etcd, with a few seconds of cache so a busy kubelet does not add
a read to every request; a deleted Secret stops working within that time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from minikube_py.api import errors
from minikube_py.api.meta import parse_time
from minikube_py.api.resources import SECRETS
from minikube_py.apiserver.authn import User, bearer_token
from minikube_py.apiserver.state import OBJECTS

AUTHENTICATED = "system:authenticated"
NODE_CREDENTIALS_TYPE = "minikube-py.io/node-credentials"
BOOTSTRAP_TYPE = "bootstrap.kubernetes.io/token"
_CACHE_SECONDS = 5.0


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret_field(secret: dict[str, Any], key: str) -> str:
    raw = (secret.get("data") or {}).get(key)
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw).decode()
    except ValueError:
        return ""


class _SecretCache:
    """Secrets by (namespace, name) for a few seconds; None caches "not there"."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}

    async def get(self, request: web.Request, namespace: str, name: str
                  ) -> dict[str, Any] | None:
        now = time.monotonic()
        hit = self.entries.get((namespace, name))
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            secret: dict[str, Any] | None = await request.app[OBJECTS].get(
                SECRETS, namespace, name)
        except errors.StatusError as e:
            if e.code != 404:
                raise
            secret = None
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[(namespace, name)] = (now + _CACHE_SECONDS, secret)
        return secret


class ServiceAccountTokens:
    """JWTs the token controller signs with sa.key."""

    def __init__(self, public_key_file: Path) -> None:
        key = serialization.load_pem_public_key(public_key_file.read_bytes())
        if not isinstance(key, rsa.RSAPublicKey):
            raise TypeError(f"{public_key_file}: not an RSA public key")
        self.key = key
        self.secrets = _SecretCache()

    def claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            if json.loads(_b64url(parts[0])).get("alg") != "RS256":
                return None
            self.key.verify(_b64url(parts[2]), f"{parts[0]}.{parts[1]}".encode(),
                            padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_b64url(parts[1]))
        except (ValueError, InvalidSignature, AttributeError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != "kubernetes/serviceaccount":
            return None
        return claims

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request)
        claims = self.claims(token) if token else None
        if claims is None:
            return None
        namespace = claims.get("kubernetes.io/serviceaccount/namespace")
        name = claims.get("kubernetes.io/serviceaccount/service-account.name")
        secret_name = claims.get("kubernetes.io/serviceaccount/secret.name")
        if not (isinstance(namespace, str) and isinstance(name, str)):
            return None
        if isinstance(secret_name, str) and secret_name:
            secret = await self.secrets.get(request, namespace, secret_name)
            if secret is None or _secret_field(secret, "token") != token:
                return None
        return User(f"system:serviceaccount:{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                     AUTHENTICATED))


class BootstrapTokens:
    """kubeadm-style `<id>.<secret>` tokens, for `join`."""

    def __init__(self) -> None:
        self.secrets = _SecretCache()

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request) or ""
        token_id, dot, token_secret = token.partition(".")
        if not dot or len(token_id) != 6 or len(token_secret) != 16 \
                or not (token_id + token_secret).isalnum():
            return None
        secret = await self.secrets.get(request, "kube-system", f"bootstrap-token-{token_id}")
        if secret is None or secret.get("type") != BOOTSTRAP_TYPE:
            return None
        if not hmac.compare_digest(_secret_field(secret, "token-secret").encode(),
                                   token_secret.encode()):
            return None
        if _secret_field(secret, "usage-bootstrap-authentication") != "true":
            return None
        expiration = _secret_field(secret, "expiration")
        if expiration:
            try:
                if parse_time(expiration) < datetime.now(UTC):
                    return None
            except ValueError:
                return None
        extra = [g for g in _secret_field(secret, "auth-extra-groups").split(",") if g]
        return User(f"system:bootstrap:{token_id}",
                    ("system:bootstrappers", *extra, AUTHENTICATED))


class NodeTokens:
    """`mkpnode:<node>:<hex>` tokens, registered by `join` as a sha256 in a Secret."""

    def __init__(self) -> None:
        self.secrets = _SecretCache()

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request) or ""
        prefix, _, rest = token.partition(":")
        node, _, secret_hex = rest.rpartition(":")
        if prefix != "mkpnode" or not node or not secret_hex:
            return None
        secret = await self.secrets.get(request, "kube-system", f"node-credentials-{node}")
        if secret is None or secret.get("type") != NODE_CREDENTIALS_TYPE:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not hmac.compare_digest(_secret_field(secret, "token-sha256").encode(),
                                   digest.encode()):
            return None
        if _secret_field(secret, "node-name") != node:
            return None
        return User(f"system:node:{node}", ("system:nodes", AUTHENTICATED))
