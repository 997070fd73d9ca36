"""Authentication: a list of authenticators tried in order.

Each authenticator looks at a request and answers a `User` or None (not mine):
static tokens (admin), node tokens, service-account JWTs, bootstrap tokens
(tokens.py). Only the health and version paths, and an anonymous GET of
kube-public/cluster-info, answer without a user.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from minikube_py.api import errors

ANONYMOUS_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})


@dataclass(frozen=True)
class User:
    """Who made a request (as Kubernetes' user.Info)."""

    name: str
    groups: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False)


Authenticator = Callable[[web.Request], Awaitable[User | None]]

AUTHENTICATORS = web.AppKey("authenticators", list)  # list[Authenticator]
USER = "minikube_py.user"
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))
# The one object anyone may read without a token (kubeadm-style discovery for `join`).
CLUSTER_INFO_PATH = "/api/v1/namespaces/kube-public/configmaps/cluster-info"


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class StaticTokens:
    """Bearer tokens known at start-up (the admin token, test tokens)."""

    def __init__(self, tokens: dict[str, User]) -> None:
        self.tokens = dict(tokens)

    async def __call__(self, request: web.Request) -> User | None:
        token = bearer_token(request)
        if token is None:
            return None
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


@web.middleware
async def authenticate(request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    """401 Status unless some authenticator accepts the request."""
    if request.path in ANONYMOUS_PATHS or request.path.startswith(tuple(
            p + "/" for p in ANONYMOUS_PATHS)):
        return await handler(request)
    for authenticator in request.app[AUTHENTICATORS]:
        user = await authenticator(request)
        if user is not None:
            request[USER] = user
            return await handler(request)
    if request.path == CLUSTER_INFO_PATH and request.method == "GET" \
            and "Authorization" not in request.headers:
        request[USER] = ANONYMOUS
        return await handler(request)
    raise errors.unauthorized()
