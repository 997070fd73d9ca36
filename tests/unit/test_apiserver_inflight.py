"""The max-in-flight filter: 429 past the limit, long-running and system:masters exempt;
watches counted per user."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from minikube_py.apiserver import inflight
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.inflight import InflightLimits, subresource_of


@pytest.mark.parametrize("path, subresource", [
    ("/api/v1/namespaces/ns/pods/p/exec", "exec"),
    ("/api/v1/namespaces/ns/pods/p/log", "log"),
    ("/api/v1/nodes/n/proxy/configz", "proxy"),
    ("/apis/apps/v1/namespaces/ns/deployments/d/scale", "scale"),
    ("/api/v1/namespaces/ns/configmaps/exec", None),  # an object named like a subresource
    ("/api/v1/namespaces/exec", None),
    ("/api/v1/namespaces/ns/status", "status"),
    ("/api/v1/pods", None),
    ("/healthz", None),
])
def test_subresource_of(path: str, subresource: str | None) -> None:
    assert subresource_of(path) == subresource


def test_limits_count_each_kind_separately() -> None:
    limits = InflightLimits(readonly_limit=1, mutating_limit=2)
    assert limits.acquire(False) and not limits.acquire(False)
    assert limits.acquire(True) and limits.acquire(True) and not limits.acquire(True)
    limits.release(False)
    assert limits.acquire(False)
    assert (limits.rejected_readonly, limits.rejected_mutating) == (1, 1)
    assert InflightLimits(0, 0).acquire(True)  # 0: no limit


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def server(release: asyncio.Event) -> TestClient[web.Request, web.Application]:
    """Handlers that wait for `release`, behind the filter (2 read-only, 1 mutating, 2
    watches per user; the user named by X-User)."""

    @web.middleware
    async def as_user(request: web.Request, handler: Handler) -> web.StreamResponse:
        groups = ("system:masters",) if request.headers.get("X-Master") else ()
        with warnings.catch_warnings():  # str keys, as authn's (aiohttp 3.14 warns)
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request[USER] = User(request.headers.get("X-User", "u"), groups)
        return await handler(request)

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app = web.Application(middlewares=[
        as_user, inflight.middleware(InflightLimits(readonly_limit=2, mutating_limit=1,
                                                    watches_per_user=2))])
    app.router.add_route("*", "/{tail:.*}", slow)
    return TestClient(TestServer(app))


async def test_past_the_limit_is_429_with_retry_after() -> None:
    release = asyncio.Event()
    async with server(release) as client:
        held = [asyncio.create_task(client.get("/api/v1/pods")) for _ in range(2)]
        held.append(asyncio.create_task(client.post("/api/v1/namespaces/n/configmaps")))
        await asyncio.sleep(0.2)
        refused = await client.get("/api/v1/pods")
        assert refused.status == 429 and refused.headers["Retry-After"] == "1"
        assert await refused.json() == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Too many requests, please try again later.",
            "reason": "TooManyRequests", "details": {"retryAfterSeconds": 1}, "code": 429}
        assert (await client.delete("/api/v1/namespaces/n/configmaps/c")).status == 429
        # Not counted, not refused: long-running requests and the cluster's admins.
        exempt = [asyncio.create_task(client.get(path)) for path in (
            "/api/v1/pods?watch=true", "/api/v1/namespaces/n/pods/p/log",
            "/api/v1/namespaces/n/pods/p/exec?command=sh")]
        exempt.append(asyncio.create_task(client.get("/api/v1/pods",
                                                     headers={"X-Master": "1"})))
        await asyncio.sleep(0.2)
        release.set()
        for task in held + exempt:
            response = await task
            assert response.status == 200
            response.release()
        assert (await client.get("/api/v1/pods")).status == 200  # released after each


async def test_watches_are_limited_per_user() -> None:
    release = asyncio.Event()
    async with server(release) as client:
        def watch(user: str, master: bool = False) -> asyncio.Task[ClientResponse]:
            headers = {"X-User": user, **({"X-Master": "1"} if master else {})}
            return asyncio.create_task(client.get("/api/v1/pods?watch=1", headers=headers))
        held = [watch("u"), watch("u"), watch("v"), watch("u", master=True)]
        await asyncio.sleep(0.2)
        refused = await watch("u")
        assert refused.status == 429 and refused.headers["Retry-After"] == "1"
        refused.release()
        release.set()
        for task in held:
            response = await task
            assert response.status == 200
            response.release()
        again = await watch("u")
        assert again.status == 200  # closed watches are no longer counted
        again.release()
