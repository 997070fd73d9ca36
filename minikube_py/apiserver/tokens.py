"""Bearer tokens that live in the cluster: service accounts, bootstrap tokens, nodes.

- Service-account JWTs (RS256) verified with D/pki/sa.pub: legacy secret tokens, valid
  while their Secret holds them, and TokenRequest tokens (tokenrequest.py), valid until
  they expire while their ServiceAccount exists (and, bound to a pod, that pod).
- Bootstrap tokens `<id>.<secret>` checked against Secret kube-system/bootstrap-token-<id>
  (constant-time, not expired, usage-bootstrap-authentication, its token-id, extra
  groups only under system:bootstrappers:).
- Node tokens `mkpnode:<node>:<hex>` whose sha256 matches Secret
  kube-system/node-credentials-<node>.
Each is checked against the api-server's credential index (credential_index.py: the
accounts, pods and credential Secrets it watches), not an etcd read per request; what the
index does not hold yet is read from etcd, so a credential made a moment ago works at
once, and one deleted stops working as soon as its watch event arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from minikube_py.api import sa_token
from minikube_py.api.meta import parse_time
from minikube_py.api.secret import BOOTSTRAP_TOKEN, NODE_CREDENTIALS_TYPE, data_field
from minikube_py.apiserver.authn import User, bearer_token
from minikube_py.apiserver.state import CREDENTIALS

log = logging.getLogger(__name__)

AUTHENTICATED = "system:authenticated"
# A bootstrap token's extra groups stay under system:bootstrappers: (kube-apiserver's
# ValidateBootstrapGroupName), so whoever may write its Secret cannot mint system:masters.
BOOTSTRAP_GROUP = re.compile(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]")
_CLOCK_SKEW = 60  # seconds a token's not-before may be ahead of our clock


class ServiceAccountTokens:
    """JWTs signed with sa.key: legacy secret tokens (the token controller's, valid while
    their Secret holds them) and TokenRequest tokens (valid until they expire, for the
    api-server's audience, while their ServiceAccount exists with the same uid)."""

    def __init__(self, public_key_file: Path) -> None:
        self.key = sa_token.load_public_key(public_key_file.read_bytes())

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request)
        if not token:
            return None
        claims = sa_token.verify_token(self.key, token)
        if claims is None:
            return None
        account = await (self._bound(request, claims) if sa_token.BOUND_CLAIM in claims
                         else self._legacy(request, claims, token))
        if account is None:
            return None
        namespace, name = account
        return User(f"system:serviceaccount:{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                     AUTHENTICATED))

    async def _legacy(self, request: web.Request, claims: dict[str, Any], token: str
                      ) -> tuple[str, str] | None:
        namespace, name = claims.get(sa_token.NS_CLAIM), claims.get(sa_token.NAME_CLAIM)
        secret_name = claims.get(sa_token.SECRET_CLAIM)
        if not (isinstance(namespace, str) and isinstance(name, str)):
            return None
        if isinstance(secret_name, str) and secret_name:
            secret = await request.app[CREDENTIALS].secret(namespace, secret_name)
            if secret is None or data_field(secret, "token") != token:
                return None
        return namespace, name

    async def _bound(self, request: web.Request, claims: dict[str, Any]
                     ) -> tuple[str, str] | None:
        bound = claims[sa_token.BOUND_CLAIM]
        account = bound.get("serviceaccount") if isinstance(bound, dict) else None
        if not isinstance(account, dict):
            return None
        namespace, name, uid = bound.get("namespace"), account.get("name"), account.get("uid")
        exp, nbf, aud = claims.get("exp"), claims.get("nbf"), claims.get("aud")
        now = time.time()
        if not (isinstance(exp, int) and isinstance(nbf, int)
                and nbf - _CLOCK_SKEW <= now < exp):
            return None
        if sa_token.API_AUDIENCE not in (aud if isinstance(aud, list) else [aud]):
            return None  # a token asked for another audience (a vault, say) is not ours
        if not (isinstance(namespace, str) and isinstance(name, str)):
            return None
        index = request.app[CREDENTIALS]
        if not isinstance(uid, str) or await index.account(namespace, name, uid=uid) is None:
            return None  # deleted, or deleted and made again: its tokens die with it
        pod = bound.get("pod")
        if pod is not None and not (  # bound to a pod: valid while that very pod exists
                isinstance(pod, dict) and isinstance(pod.get("name"), str)
                and isinstance(pod.get("uid"), str)
                and await index.pod(namespace, pod["name"], uid=pod["uid"]) is not None):
            return None
        return namespace, name


class BootstrapTokens:
    """kubeadm-style `<id>.<secret>` tokens, for `join`."""

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request) or ""
        token_id, dot, token_secret = token.partition(".")
        if not dot or len(token_id) != 6 or len(token_secret) != 16 \
                or not (token_id + token_secret).isalnum():
            return None
        secret = await request.app[CREDENTIALS].secret("kube-system",
                                                       f"bootstrap-token-{token_id}")
        if secret is None or secret.get("type") != BOOTSTRAP_TOKEN:
            return None
        if not hmac.compare_digest(data_field(secret, "token-secret").encode(),
                                   token_secret.encode()):
            return None
        if data_field(secret, "usage-bootstrap-authentication") != "true" \
                or data_field(secret, "token-id") != token_id:
            return None
        expiration = data_field(secret, "expiration")
        if expiration:
            try:
                if parse_time(expiration) < datetime.now(UTC):
                    return None
            except ValueError:
                return None
        extra = [g for g in data_field(secret, "auth-extra-groups").split(",") if g]
        if not all(BOOTSTRAP_GROUP.fullmatch(g) for g in extra):
            log.warning("bootstrap token refused: auth-extra-groups outside "
                        "system:bootstrappers: token_id=%s", token_id)
            return None
        return User(f"system:bootstrap:{token_id}",
                    ("system:bootstrappers", *extra, AUTHENTICATED))


class NodeTokens:
    """`mkpnode:<node>:<hex>` tokens, registered by `join` as a sha256 in a Secret."""

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request) or ""
        prefix, _, rest = token.partition(":")
        node, _, secret_hex = rest.rpartition(":")
        if prefix != "mkpnode" or not node or not secret_hex:
            return None
        secret = await request.app[CREDENTIALS].secret("kube-system", f"node-credentials-{node}")
        if secret is None or secret.get("type") != NODE_CREDENTIALS_TYPE:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not hmac.compare_digest(data_field(secret, "token-sha256").encode(),
                                   digest.encode()):
            return None
        if data_field(secret, "node-name") != node:
            return None
        return User(f"system:node:{node}", ("system:nodes", AUTHENTICATED))
