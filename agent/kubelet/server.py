"""The kubelet API on :10250: container logs, exec and attach, over authenticated HTTPS.

Paths are Kubernetes' (the api-server's pods/log and pods/exec proxy to them):
  GET /containerLogs/{namespace}/{pod}/{container}?follow&tailLines&sinceSeconds
      &timestamps&previous&limitBytes
  GET /exec/{namespace}/{pod}/{container}?command=..&command=..&stdin&stdout&stderr&tty
      (WebSocket, subprotocol v5.channel.k8s.io, v4.channel.k8s.io or
      v4.base64.channel.k8s.io; or SPDY/3.1 for kubectl before 1.30, spdy_exec.py)
  GET /attach/{namespace}/{pod}/{container}?stdin&stdout&stderr&tty   (the same protocols,
      to the container's main process: docker attach)
  POST /portForward/{namespace}/{pod}   (SPDY/3.1, portforward.k8s.io, portforward.py; or
      WebSocket channels ?port=..&port=.., portforward_ws.py)
  GET /configz   (the effective KubeletConfiguration, configz.py)
  GET /debug/dataplane, POST /debug/probe   (what `minikube-py trace` reads, debug.py)
  GET /healthz
Every path, /healthz included, needs a caller the api-server vouches for and may use this
node's API; /debug/ is nodes/proxy too (webhook_auth.py: client certificate or TokenReview, then SubjectAccessReview):
no certificate or token is 401, a refusal 403. The serving certificate is the node's own,
issued by the cluster CA at join (serving_tls.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from agent.kubelet import channels as ch
from agent.kubelet import portforward, spdy_exec
from agent.kubelet.errors import ContainerNotFound
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.streams import AttachSession, ExecSession, StreamSession, log_stream
from agent.kubelet.webhook_auth import (
    Caller,
    WebhookAuth,
    certificate_caller,
    forbidden_message,
)
from minikube_py.client.errors import ClientError

log = logging.getLogger(__name__)

Resolver = Callable[[str, str, str, bool], Awaitable[str | None]]


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not an integer: {raw!r}") from None


async def _stream(request: web.Request, start: Callable[[], Awaitable[StreamSession]],
                  opts: dict[str, bool]) -> web.StreamResponse:
    """An exec or attach session over SPDY (kubectl before 1.30) or the WebSocket channel
    protocol: stdin and resize in, output out, the session's final Status last."""
    if spdy_exec.is_spdy(request):
        return await spdy_exec.serve(request, start, **opts)
    ws = web.WebSocketResponse(protocols=ch.PROTOCOLS, max_msg_size=0)
    await ws.prepare(request)
    v5, b64 = ws.ws_protocol == ch.V5, ws.ws_protocol == ch.BASE64
    try:
        session = await start()
    except Exception as e:  # noqa: BLE001 - any start failure goes to the error channel
        await ch.send(ws, ch.status_frame(ch.error_status(str(e)), base64_text=b64))
        await ws.close()
        return ws

    async def out(channel: int, data: bytes) -> None:
        await ch.send(ws, ch.encode(channel, data, base64_text=b64))

    async def inbound() -> None:
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                continue
            try:
                channel, data = ch.decode(msg.data, base64_text=b64)
            except ValueError as e:
                log.info("dropping a stream message path=%s error=%s", request.path, e)
                continue
            if channel == ch.STDIN and data:
                await session.write(data)
            elif channel == ch.RESIZE:
                size = json.loads(data)
                await session.resize(int(size["Width"]), int(size["Height"]))
            elif v5 and channel == ch.CLOSE and data[:1] == bytes([ch.STDIN]):
                session.close_stdin()
        session.close_stdin()

    reader = asyncio.create_task(inbound(), name="stream-in")
    try:
        await session.pump(out)
        await ch.send(ws, ch.status_frame(await session.final_status(), base64_text=b64))
    except ConnectionResetError:
        log.info("stream client went away path=%s", request.path)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        session.close()
        await ws.close()
    return ws


class KubeletServer:
    def __init__(self, runtime: DockerRuntime, resolve: Resolver, auth: WebhookAuth,
                 config: Callable[[], dict[str, Any]] | None = None) -> None:
        self.runtime, self.resolve, self.auth, self.config = runtime, resolve, auth, config
        self.app = web.Application(middlewares=[self._auth])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/configz", self._configz)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        self.app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        self.app.router.add_route("*", "/attach/{namespace}/{pod}/{container}", self._attach)
        self.app.router.add_route("*", "/portForward/{namespace}/{pod}",
                                  portforward.handler(runtime))
        self.port = 0

    @web.middleware
    async def _auth(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        caller = await self._caller(request)
        if caller is None:
            raise web.HTTPUnauthorized(text="Unauthorized")
        try:
            refused = await self.auth.allowed(caller, request.method, request.path)
        except ClientError as e:
            log.warning("cannot authorize kubelet API call user=%s error=%s", caller.name, e)
            raise web.HTTPInternalServerError(text="Authorization error") from None
        if refused is not None:
            log.info("kubelet API call refused user=%s verb=%s subresource=%s", caller.name,
                     refused.verb, refused.subresource)
            raise web.HTTPForbidden(text=forbidden_message(caller, refused))
        return await handler(request)

    async def _caller(self, request: web.Request) -> Caller | None:
        """The client certificate's user, else the bearer token's (TokenReview)."""
        transport = request.transport
        if transport is not None:
            by_cert = certificate_caller(transport.get_extra_info("peercert"))
            if by_cert is not None:
                return by_cert
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            return await self.auth.authenticate_token(token.strip())
        except ClientError as e:
            log.warning("cannot review a token for the kubelet API error=%s", e)
            raise web.HTTPInternalServerError(text="Authentication error") from None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _configz(self, request: web.Request) -> web.Response:
        if self.config is None:
            raise web.HTTPNotFound(text="configz: not configured")
        return web.json_response(self.config())

    async def _container(self, request: web.Request, previous: bool = False) -> str:
        m = request.match_info
        cid = await self.resolve(m["namespace"], m["pod"], m["container"], previous)
        if cid is None:
            what = "previous terminated container" if previous else "container"
            raise web.HTTPNotFound(
                text=f'{what} "{m["container"]}" in pod "{m["pod"]}" not found')
        return cid

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        previous = _flag(request, "previous")
        cid = await self._container(request, previous)
        since = _int(request, "sinceSeconds")
        stream = log_stream(self.runtime, cid, follow=_flag(request, "follow"),
                            tail=_int(request, "tailLines"),
                            since=int(time.time()) - since if since else None,
                            timestamps=_flag(request, "timestamps"),
                            limit=_int(request, "limitBytes"))
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        try:
            async for chunk in stream:
                await resp.write(chunk)
        except (ConnectionResetError, ContainerNotFound):
            pass
        finally:
            await stream.aclose()
        return resp

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        cid = await self._container(request)
        cmd = request.query.getall("command", [])
        if not cmd:
            raise web.HTTPBadRequest(text="command: required")
        opts = {name: _flag(request, name) for name in ("stdin", "stdout", "stderr", "tty")}
        return await _stream(request, lambda: ExecSession.start(self.runtime, cid, cmd, **opts),
                             opts)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        cid = await self._container(request)
        opts = {name: _flag(request, name) for name in ("stdin", "stdout", "stderr", "tty")}
        return await _stream(request, lambda: AttachSession.start(self.runtime, cid), opts)

    async def start(self, host: str, port: int, ssl_ctx: ssl.SSLContext | None) -> web.AppRunner:
        # A client that goes away cancels its handler (ends a `follow`); shutdown does not
        # wait a minute for streams that never end.
        runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx)
        await site.start()
        self.port = runner.addresses[0][1]
        log.info("kubelet server listening address=%s:%d", host, self.port)
        return runner
