"""`minikube-py ui`: the cluster on one live page.

The page (static/, plain HTML, CSS and JavaScript; no build step) opens one stream,
GET /api/stream, and keeps it: newline-delimited JSON with each kind's current objects
(cut to what the page shows, views.py) and then every change a watch delivers, plus the
metrics API's figures when it is served (it has no watch: read every 15 s here, pushed
like the rest, so the browser never polls). A pod's logs come from /api/logs.

Every request is made to the api-server with the bearer token the browser sends, so
what a user sees is what RBAC lets that token read; this server holds no credential of
its own. Read-only: nothing here writes to the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from minikube_py.api.meta import dns1123_label, dns1123_subdomain
from minikube_py.api.types import Object
from minikube_py.ui import views

log = logging.getLogger(__name__)

# (kind, list path, view): what the page follows.
KINDS: tuple[tuple[str, str, Callable[[Object], dict[str, Any]]], ...] = (
    ("Node", "/api/v1/nodes", views.node),
    ("Pod", "/api/v1/pods", views.pod),
    ("Service", "/api/v1/services", views.service),
    ("Endpoints", "/api/v1/endpoints", views.endpoints),
    ("Event", "/api/v1/events", views.event),
)
METRICS = {"pods": "/apis/metrics.k8s.io/v1beta1/pods",
           "nodes": "/apis/metrics.k8s.io/v1beta1/nodes"}
METRICS_PERIOD = 15.0
EVENTS_KEPT = 100  # the newest, in the first snapshot
STATIC = ("index.html", "app.js", "app.css")
LOG_LINES = 500


class Upstream:
    """The api-server as one user sees it (their token on every request)."""

    def __init__(self, server: str, tls: ssl.SSLContext | None, token: str) -> None:
        self.server, self.tls = server, tls
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=10))

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.session.get(self.server + path, params=params, headers=self.headers,
                                    ssl=self.tls or False) as resp:
            body = await resp.read()
            if "json" in resp.content_type:
                return resp.status, json.loads(body)
            return resp.status, body.decode(errors="replace")

    async def watch(self, path: str, resource_version: str) -> AsyncIterator[Object]:
        params = {"watch": "true", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true", "timeoutSeconds": "1800"}
        async with self.session.get(self.server + path, params=params, headers=self.headers,
                                    ssl=self.tls or False) as resp:
            if resp.status != 200:
                raise WatchEnded(f"watch {path}: HTTP {resp.status}")
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)


class WatchEnded(Exception):
    """The watch cannot go on from where it was (expired, refused): list again."""


class UiServer:
    def __init__(self, server: str, tls: ssl.SSLContext | None) -> None:
        self.server, self.tls = server, tls
        self.app = web.Application()
        self.app.router.add_get("/", self._static)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/api/stream", self._stream)
        self.app.router.add_get("/api/logs/{namespace}/{pod}", self._logs)

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = resources.files("minikube_py.ui").joinpath("static", name).read_bytes()
        kind = {"html": "text/html", "js": "text/javascript", "css": "text/css"}[
            name.rsplit(".", 1)[1]]
        return web.Response(body=body, content_type=kind, headers={
            "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; style-src 'self'; "
                                       "script-src 'self'; connect-src 'self'"})

    def _upstream(self, request: web.Request) -> Upstream:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            raise web.HTTPUnauthorized(text="a bearer token is needed")
        return Upstream(self.server, self.tls, token)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        upstream = self._upstream(request)
        status, _ = await upstream.get("/api/v1/nodes", limit="1")
        if status in (401, 403):
            await upstream.close()
            raise web.HTTPUnauthorized(text="the api-server refused this token") if status == 401 \
                else web.HTTPForbidden(text="this token may not list nodes")
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-store"})
        await resp.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        tasks = [asyncio.create_task(self._follow(upstream, kind, path, view, queue))
                 for kind, path, view in KINDS]
        tasks.append(asyncio.create_task(self._metrics(upstream, queue)))
        try:
            while True:
                message = await queue.get()
                batch = [message]
                while not queue.empty() and len(batch) < 500:
                    batch.append(queue.get_nowait())
                await resp.write("".join(json.dumps(m, separators=(",", ":")) + "\n"
                                         for m in batch).encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await upstream.close()
        return resp

    async def _follow(self, upstream: Upstream, kind: str, path: str,
                      view: Callable[[Object], dict[str, Any]],
                      queue: asyncio.Queue[dict[str, Any]]) -> None:
        """List, send the snapshot, then send each change; on an ended watch, list again."""
        while True:
            status, body = await upstream.get(path)
            if status != 200:
                await queue.put({"type": "ERROR", "kind": kind,
                                 "message": f"list {kind}: HTTP {status}"})
                return
            items = body.get("items") or []
            if kind == "Event":
                items = sorted(items, key=lambda e: views.event(e)["time"])[-EVENTS_KEPT:]
            await queue.put({"type": "SNAPSHOT", "kind": kind,
                             "objects": [view(item) for item in items]})
            try:
                async for event in upstream.watch(path, body["metadata"]["resourceVersion"]):
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        await queue.put({"type": event["type"], "kind": kind,
                                         "object": view(event["object"])})
                    elif event.get("type") == "ERROR":
                        break
            except (WatchEnded, aiohttp.ClientError, ValueError) as e:
                log.info("ui watch ended kind=%s error=%s", kind, e)
                await asyncio.sleep(1)

    async def _metrics(self, upstream: Upstream, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            figures: dict[str, Any] = {"type": "METRICS"}
            for name, path in METRICS.items():
                with contextlib.suppress(aiohttp.ClientError, ValueError):
                    status, body = await upstream.get(path)
                    if status == 200:
                        figures[name] = views.metrics(body.get("items") or [])
            if len(figures) > 1:
                await queue.put(figures)
            await asyncio.sleep(METRICS_PERIOD)

    async def _logs(self, request: web.Request) -> web.Response:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        container = request.query.get("container", "")
        if dns1123_label(namespace) or dns1123_subdomain(pod) or (
                container and dns1123_label(container)):
            raise web.HTTPBadRequest(text="not a pod or container name")
        upstream = self._upstream(request)
        try:
            params = {"tailLines": str(LOG_LINES), **({"container": container}
                                                      if container else {})}
            status, body = await upstream.get(
                f"/api/v1/namespaces/{namespace}/pods/{pod}/log", **params)
        finally:
            await upstream.close()
        if status != 200:
            message = body.get("message") if isinstance(body, dict) else str(body)
            return web.Response(status=status, text=str(message))
        return web.Response(text=str(body), content_type="text/plain")
