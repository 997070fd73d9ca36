"""Service-account tokens: RS256 JWTs in Kubernetes' legacy secret-token format,
signed with the key the api-server keeps in D/pki/sa.key and verified with
D/pki/sa.pub (see CONTRACTS.md)."""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "kubernetes/serviceaccount"
NS_CLAIM = "kubernetes.io/serviceaccount/namespace"
SECRET_CLAIM = "kubernetes.io/serviceaccount/secret.name"
NAME_CLAIM = "kubernetes.io/serviceaccount/service-account.name"
UID_CLAIM = "kubernetes.io/serviceaccount/service-account.uid"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_for(namespace: str, name: str, uid: str, secret: str) -> dict[str, str]:
    return {"iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}",
            NS_CLAIM: namespace, SECRET_CLAIM: secret, NAME_CLAIM: name, UID_CLAIM: uid}


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("service-account signing key must be an RSA private key")
    return key


def sign_token(key: rsa.RSAPrivateKey, claims: dict[str, str]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64(signature)}"


def verify_token(public_pem: bytes, token: str) -> dict[str, str] | None:
    """The claims of a token signed by the matching private key, else None."""
    try:
        header, payload, signature = token.split(".")
        if json.loads(_unb64(header)).get("alg") != "RS256":
            return None
        key = serialization.load_pem_public_key(public_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            return None
        key.verify(_unb64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                   hashes.SHA256())
        claims = json.loads(_unb64(payload))
    except (ValueError, InvalidSignature):
        return None
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        return None
    return claims
