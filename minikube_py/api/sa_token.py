"""Service-account tokens: RS256 JWTs signed with the key the api-server keeps in
D/pki/sa.key and verified with D/pki/sa.pub (docs/interfaces.md). Two claim layouts, as
Kubernetes has them: the legacy secret token (flat claims naming its Secret, valid while
the Secret exists) and the TokenRequest token (audiences, a lifetime, and the account in a
nested `kubernetes.io` claim)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "kubernetes/serviceaccount"
NS_CLAIM = "kubernetes.io/serviceaccount/namespace"
SECRET_CLAIM = "kubernetes.io/serviceaccount/secret.name"
NAME_CLAIM = "kubernetes.io/serviceaccount/service-account.name"
UID_CLAIM = "kubernetes.io/serviceaccount/service-account.uid"
BOUND_CLAIM = "kubernetes.io"
# Who the api-server's own tokens are for (kube-apiserver's default --api-audiences).
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_for(namespace: str, name: str, uid: str, secret: str) -> dict[str, str]:
    return {"iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}",
            NS_CLAIM: namespace, SECRET_CLAIM: secret, NAME_CLAIM: name, UID_CLAIM: uid}


def bound_claims(namespace: str, name: str, uid: str, audiences: list[str], issued_at: int,
                 lifetime: int, *, pod: tuple[str, str] | None = None) -> dict[str, Any]:
    """A TokenRequest token's claims, in kube-apiserver's layout; `pod` (name, uid) binds
    it to that pod."""
    bound: dict[str, Any] = {"namespace": namespace,
                             "serviceaccount": {"name": name, "uid": uid}}
    if pod is not None:
        bound["pod"] = {"name": pod[0], "uid": pod[1]}
    return {"aud": audiences, "exp": issued_at + lifetime, "iat": issued_at,
            "nbf": issued_at, "iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}",
            BOUND_CLAIM: bound}


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("service-account signing key must be an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("service-account verifying key must be an RSA public key")
    return key


def sign_token(key: rsa.RSAPrivateKey, claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64(signature)}"


def verify_token(public_key: rsa.RSAPublicKey | bytes, token: str) -> dict[str, Any] | None:
    """The claims of a token signed by the matching private key (the key loaded, or its
    PEM), else None."""
    try:
        header, payload, signature = token.split(".")
        if json.loads(_unb64(header)).get("alg") != "RS256":
            return None
        key = load_public_key(public_key) if isinstance(public_key, bytes) else public_key
        key.verify(_unb64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                   hashes.SHA256())
        claims = json.loads(_unb64(payload))
    except (ValueError, TypeError, InvalidSignature, AttributeError):
        return None
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        return None
    return claims
