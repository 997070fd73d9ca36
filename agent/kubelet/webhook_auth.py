"""Who may call the kubelet API, decided by the api-server, as a kubelet started with
`--authentication-token-webhook --authorization-mode=Webhook --client-ca-file` does.

Authentication: a client certificate verified against the cluster CA (the TLS layer does
that; its CN is the user, its Os the groups), else a bearer token looked up with a
TokenReview. Nothing else: no anonymous access.
Authorization: a SubjectAccessReview for the node with kubelet's attributes
(pkg/kubelet/server/auth.go): the HTTP method gives the verb, the path the subresource of
`nodes/<this node>` (stats, metrics, log, spec, configz, healthz, else proxy: exec, attach,
portForward, run, containerLogs). For configz and healthz, as kubelet's fine-grained
authorization, `nodes/proxy` is asked if the narrower subresource is refused.
Answers are cached as kubelet's defaults: tokens 2 min (refusals 30 s), decisions 5 min
when allowed and 30 s when not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from minikube_py.api.types import Object

log = logging.getLogger(__name__)

TOKEN_TTL, TOKEN_DENIED_TTL = 120.0, 30.0
ALLOWED_TTL, DENIED_TTL = 300.0, 30.0
VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
         "DELETE": "delete"}
# Path prefix -> subresource of nodes/<name>; anything else is `proxy`.
SUBRESOURCES = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"),
                ("/spec", "spec"), ("/configz", "configz"), ("/healthz", "healthz"))
FINE_GRAINED = frozenset({"configz", "healthz"})  # also allowed by nodes/proxy

# POST a review object to its path, answer the created review (the node's ApiClient).
Post = Callable[[str, Object], Awaitable[Any]]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller of the kubelet API (user.Info)."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Attributes:
    verb: str
    subresource: str


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def request_attributes(method: str, path: str) -> list[Attributes]:
    """What to ask, in order (the first allowed wins)."""
    verb = VERBS.get(method.upper(), method.lower())
    sub = next((s for prefix, s in SUBRESOURCES if _is_under(path, prefix)), "proxy")
    asks = [Attributes(verb, sub)]
    if sub in FINE_GRAINED:
        asks.append(Attributes(verb, "proxy"))
    return asks


def certificate_caller(peercert: dict[str, Any] | None) -> Caller | None:
    """The user of a client certificate ssl already verified against the client CA."""
    if not peercert:
        return None
    fields = [pair for rdn in peercert.get("subject") or () for pair in rdn]
    names = [v for k, v in fields if k == "commonName"]
    if not names:
        return None
    return Caller(names[0], tuple(v for k, v in fields if k == "organizationName"))


K = TypeVar("K")
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    """Answers kept until their own expiry; bounded by dropping everything when full."""

    def __init__(self, limit: int = 10_000) -> None:
        self.entries: dict[K, tuple[float, V]] = {}
        self.limit = limit

    def get(self, key: K) -> tuple[bool, V | None]:
        hit = self.entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        if len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[key] = (time.monotonic() + ttl, value)


class WebhookAuth:
    """TokenReview and SubjectAccessReview through the node's own API credential."""

    def __init__(self, post: Post, node: str) -> None:
        self.post, self.node = post, node
        self.tokens: _TtlCache[str, Caller | None] = _TtlCache()
        self.decisions: _TtlCache[tuple[Caller, Attributes], bool] = _TtlCache()

    async def authenticate_token(self, token: str) -> Caller | None:
        found, cached = self.tokens.get(token)
        if found:
            return cached
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                  "spec": {"token": token}}
        answer = await self.post("/apis/authentication.k8s.io/v1/tokenreviews", review)
        status = (answer or {}).get("status") or {}
        caller = None
        if status.get("authenticated"):
            user = status.get("user") or {}
            caller = Caller(str(user.get("username", "")), tuple(user.get("groups") or ()),
                            str(user.get("uid", "")),
                            tuple((k, tuple(v)) for k, v in (user.get("extra") or {}).items()))
        self.tokens.put(token, caller, TOKEN_TTL if caller else TOKEN_DENIED_TTL)
        return caller

    async def authorize(self, caller: Caller, attrs: Attributes) -> bool:
        found, cached = self.decisions.get((caller, attrs))
        if found:
            return bool(cached)
        spec: Object = {"user": caller.name, "groups": list(caller.groups),
                        "resourceAttributes": {"verb": attrs.verb, "group": "",
                                               "version": "v1", "resource": "nodes",
                                               "subresource": attrs.subresource,
                                               "name": self.node}}
        if caller.uid:
            spec["uid"] = caller.uid
        if caller.extra:
            spec["extra"] = {k: list(v) for k, v in caller.extra}
        answer = await self.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": spec})
        allowed = bool(((answer or {}).get("status") or {}).get("allowed"))
        self.decisions.put((caller, attrs), allowed, ALLOWED_TTL if allowed else DENIED_TTL)
        return allowed

    async def allowed(self, caller: Caller, method: str, path: str) -> Attributes | None:
        """None when allowed, else the attributes that were refused (for the message)."""
        asks = request_attributes(method, path)
        for attrs in asks:
            if await self.authorize(caller, attrs):
                return None
        return asks[0]


def forbidden_message(caller: Caller, attrs: Attributes) -> str:
    """kubelet's 403 text."""
    return (f"Forbidden (user={caller.name}, verb={attrs.verb}, resource=nodes, "
            f"subresource(s)=[{attrs.subresource}])")
