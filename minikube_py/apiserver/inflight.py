"""kube-apiserver's `--max-requests-inflight` and `--max-mutating-requests-inflight`.

One process serves every request on one core: a burst of thousands of concurrent
LISTs would queue behind each other until every client timed out, and hold their
bodies in memory meanwhile. Past the limit a request is refused at once with 429,
`Retry-After: 1` and kube-apiserver's Status, so clients back off and retry (client-go
and ours do). As kube-apiserver's max-in-flight filter: read-only (GET/HEAD/OPTIONS)
and mutating requests have separate limits (0: none), long-running requests (watch,
exec, attach, port-forward, proxy, logs) are not counted, and `system:masters` is
never refused (the admin must be able to get in to fix an overload).

Watches are counted apart, per user (`--max-watches-per-user`, ours: kube-apiserver
leaves it to API Priority and Fairness): each open watch holds a buffer and a task, so
one credential opening thousands would hold the server's memory. Past the limit a new
watch gets the same 429 and the client's informer retries it later.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from minikube_py.api import errors
from minikube_py.apiserver import codec
from minikube_py.apiserver.authn import USER, User

READONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy", "log"})
RETRY_AFTER = 1


@dataclass
class InflightLimits:
    """Counters of one process's requests in flight, and their limits (0: unlimited)."""

    readonly_limit: int
    mutating_limit: int
    watches_per_user: int = 0
    watches: Counter[str] = field(default_factory=Counter)  # user -> open watches
    rejected_watches: int = 0
    readonly: int = 0
    mutating: int = 0
    rejected_readonly: int = 0
    rejected_mutating: int = 0

    def acquire(self, mutating: bool) -> bool:
        """Count one more request in flight; False (nothing counted) if at the limit."""
        if mutating:
            if self.mutating_limit and self.mutating >= self.mutating_limit:
                self.rejected_mutating += 1
                return False
            self.mutating += 1
        else:
            if self.readonly_limit and self.readonly >= self.readonly_limit:
                self.rejected_readonly += 1
                return False
            self.readonly += 1
        return True

    def open_watch(self, user: str) -> bool:
        """Count one more watch of `user`; False (nothing counted) if at the limit."""
        if self.watches_per_user and self.watches[user] >= self.watches_per_user:
            self.rejected_watches += 1
            return False
        self.watches[user] += 1
        return True

    def close_watch(self, user: str) -> None:
        self.watches[user] -= 1
        if not self.watches[user]:
            del self.watches[user]

    def release(self, mutating: bool) -> None:
        if mutating:
            self.mutating -= 1
        else:
            self.readonly -= 1


def subresource_of(path: str) -> str | None:
    """The subresource a resource path addresses (/api/v1/namespaces/n/pods/p/exec: exec),
    as kube-apiserver's RequestInfo finds it, without looking the resource up."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        parts = parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        parts = parts[3:]
    else:
        return None
    if parts and parts[0] == "namespaces" and len(parts) > 2 \
            and parts[2] not in ("status", "finalize"):
        parts = parts[2:]
    return parts[2] if len(parts) > 2 else None


def is_watch(request: web.Request) -> bool:
    try:
        return codec.go_bool(request.query.get("watch"), "watch")
    except errors.StatusError:  # the handler answers that one with 400
        return False


def long_running(request: web.Request) -> bool:
    """Watches, exec/attach/port-forward, proxies and logs: minutes or hours by nature."""
    return is_watch(request) or subresource_of(request.path) in LONG_RUNNING_SUBRESOURCES


def _is_master(request: web.Request) -> bool:
    user: User | None = request.get(USER)
    return user is not None and "system:masters" in user.groups


def too_many_requests() -> web.Response:
    """429 as kube-apiserver words it, with the seconds to wait in a header and in details."""
    response = codec.status_response(errors.StatusError(
        429, "TooManyRequests", "Too many requests, please try again later.",
        {"retryAfterSeconds": RETRY_AFTER}))
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def middleware(limits: InflightLimits) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The filter, after authentication and impersonation (it needs the user)."""
    @web.middleware
    async def limit_inflight(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
        watch = is_watch(request)
        if _is_master(request) or (not watch and long_running(request)):
            return await handler(request)
        if watch:
            user: User | None = request.get(USER)
            name = user.name if user is not None else ""
            take, give = (functools.partial(limits.open_watch, name),
                          functools.partial(limits.close_watch, name))
        else:
            mutating = request.method not in READONLY_METHODS
            take, give = (functools.partial(limits.acquire, mutating),
                          functools.partial(limits.release, mutating))
        if not take():
            return too_many_requests()
        try:
            return await handler(request)
        finally:
            give()
    return limit_inflight
