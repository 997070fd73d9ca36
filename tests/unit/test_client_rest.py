"""The REST client's pure parts (error mapping, watch line splitting, query params) and its
retry of a throttled request against a local aiohttp server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from minikube_py.client import errors
from minikube_py.client.rest import ApiClient, error_for, query_params, retry_after, split_lines


def status(code: int, reason: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": code, "reason": reason, "message": f"m-{reason}",
                       "details": {"causes": [{"field": "spec.x", "message": "bad"}]}}).encode()


@pytest.mark.parametrize(("code", "reason", "cls"), [
    pytest.param(404, "NotFound", errors.NotFound, id="404-not-found"),
    pytest.param(409, "AlreadyExists", errors.AlreadyExists, id="409-already-exists"),
    pytest.param(409, "Conflict", errors.Conflict, id="409-conflict"),
    pytest.param(410, "Expired", errors.Gone, id="410-gone"),
    pytest.param(422, "Invalid", errors.Invalid, id="422-invalid"),
    pytest.param(401, "Unauthorized", errors.Unauthorized, id="401"),
    pytest.param(403, "Forbidden", errors.Forbidden, id="403"),
    pytest.param(429, "TooManyRequests", errors.TooManyRequests, id="429"),
    pytest.param(503, "ServiceUnavailable", errors.ServerError, id="5xx"),
    pytest.param(418, "Teapot", errors.ApiError, id="unknown-code-is-generic"),
])
def test_status_maps_to_narrow_error(code: int, reason: str, cls: type) -> None:
    err = error_for(code, status(code, reason), "application/json")
    assert type(err) is cls
    assert isinstance(err, errors.ApiError)
    assert (err.code, err.reason, err.message) == (code, reason, f"m-{reason}")
    assert err.causes == [{"field": "spec.x", "message": "bad"}]


def test_non_status_body_becomes_a_readable_error() -> None:
    err = error_for(502, b"<html>Bad Gateway</html>", "text/html")
    assert isinstance(err, errors.ServerError)
    assert err.code == 502 and "Bad Gateway" in err.message


def test_watch_error_event_status_uses_its_own_code() -> None:
    err = errors.from_status({"kind": "Status", "code": 410, "reason": "Expired",
                              "message": "too old resource version"})
    assert isinstance(err, errors.Gone) and "too old" in str(err)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(*parts: bytes) -> list[bytes]:
    return [line async for line in split_lines(chunks(*parts))]


async def test_lines_split_across_chunks() -> None:
    assert await collect(b'{"a":', b'1}\n{"b"', b":2}\n\n", b'{"c":3}') == \
        [b'{"a":1}', b'{"b":2}', b'{"c":3}']


async def test_lines_of_any_length() -> None:
    big = b"x" * (5 * 1024 * 1024)
    pieces = [big[i:i + 65536] for i in range(0, len(big), 65536)]
    assert await collect(*pieces, b"\nsmall\n") == [big, b"small"]


def test_params_render_like_go() -> None:
    assert query_params(watch=True, allowWatchBookmarks=False, limit=5, labelSelector=None) == \
        {"watch": "true", "allowWatchBookmarks": "false", "limit": "5"}


@pytest.mark.parametrize(("status", "header", "wait"), [
    (429, "1", 1.0), (429, "0", 0.0), (429, "3600", 10.0), (429, None, None),
    (429, "Wed, 21 Oct 2015 07:28:00 GMT", None), (503, "1", None), (200, "1", None)])
def test_retry_after_only_for_a_throttled_answer(status: int, header: str | None,
                                                 wait: float | None) -> None:
    assert retry_after(status, header) == wait


async def test_a_throttled_request_is_sent_again_until_it_gets_through() -> None:
    answers = [429, 429, 201]
    seen: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(await request.read())
        code = answers.pop(0)
        return web.json_response({"kind": "Status", "code": code}, status=code,
                                 headers={"Retry-After": "0"} if code == 429 else None)

    app = web.Application()
    app.router.add_post("/api/v1/namespaces", handler)
    async with TestServer(app) as server, ApiClient(str(server.make_url(""))) as client:
        assert (await client.request("POST", "/api/v1/namespaces", json={"a": 1}))["code"] == 201
    assert seen == [b'{"a":1}'] * 3
