"""The kubelet API on :10250: container logs and exec, over authenticated HTTPS.

Paths are Kubernetes' (the api-server's pods/log and pods/exec proxy to them):
  GET /containerLogs/{namespace}/{pod}/{container}?follow&tailLines&sinceSeconds
      &timestamps&previous&limitBytes
  GET /exec/{namespace}/{pod}/{container}?command=..&command=..&stdin&stdout&stderr&tty
      (WebSocket, subprotocol v5.channel.k8s.io or v4.channel.k8s.io; or SPDY/3.1 for
      kubectl before 1.30, spdy_exec.py)
  POST /portForward/{namespace}/{pod}   (SPDY/3.1, portforward.k8s.io, portforward.py)
  GET /configz   (the effective KubeletConfiguration, configz.py)
  GET /debug/dataplane, POST /debug/probe   (what `minikube-py trace` reads, debug.py)
  GET /healthz
Authentication: `Authorization: Bearer <token>`, accepted when that token may GET
the pod from the api-server, or for /configz and /debug/ may `get nodes/proxy` on this node (asked
with a SelfSubjectAccessReview; kubelet's webhook authn/authz, reduced to one request,
cached for a minute). The serving certificate is self-signed, kept in the state dir.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.kubelet import channels as ch
from agent.kubelet import portforward, spdy_exec
from agent.kubelet.errors import ContainerNotFound
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.streams import ExecSession, log_stream
from minikube_py.durable import write_file

log = logging.getLogger(__name__)

Resolver = Callable[[str, str, str, bool], Awaitable[str | None]]
TokenCheck = Callable[[str, str, str], Awaitable[bool]]
NodeCheck = Callable[[str, str], Awaitable[bool]]
TOKEN_CACHE_SECONDS = 60.0


def serving_cert(pki_dir: Path, node: str, ips: list[str]) -> ssl.SSLContext:
    """A self-signed certificate for the node (made once, reused across restarts)."""
    crt, key = pki_dir / "kubelet.crt", pki_dir / "kubelet.key"
    if not (crt.exists() and key.exists()):
        pki_dir.mkdir(parents=True, exist_ok=True)
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node}@kubelet")])
        sans: list[x509.GeneralName] = [x509.DNSName(node)]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips if ip]
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(k.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(k, hashes.SHA256()))
        write_file(key, k.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        write_file(crt, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ctx


class TokenAuthenticator:
    """Bearer tokens are checked by asking the api-server for the pod with them."""

    def __init__(self, server: str, ssl_ctx: ssl.SSLContext | bool) -> None:
        self.server, self.ssl_ctx = server, ssl_ctx
        self._ok: dict[tuple[str, str, str], float] = {}

    async def __call__(self, token: str, namespace: str, pod: str) -> bool:
        key = (token, namespace, pod)
        if self._ok.get(key, 0) > time.monotonic():
            return True
        url = f"{self.server}/api/v1/namespaces/{namespace}/pods/{pod}"
        async with aiohttp.ClientSession() as s, s.get(
                url, headers={"Authorization": f"Bearer {token}"}, ssl=self.ssl_ctx,
                timeout=aiohttp.ClientTimeout(total=10)) as resp:
            ok = resp.status in (200, 404)  # 404: allowed to look, and there is nothing
        if ok:
            self._ok[key] = time.monotonic() + TOKEN_CACHE_SECONDS
        return ok

    async def may_proxy_node(self, token: str, node: str) -> bool:
        """Whether the token's user may `get nodes/proxy` on `node` (what kubelet's webhook
        authorizer asks for /configz); asked as that user, so no extra rights are needed."""
        key = (token, "", f"nodes/proxy/{node}")
        if self._ok.get(key, 0) > time.monotonic():
            return True
        review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                  "spec": {"resourceAttributes": {"verb": "get", "resource": "nodes",
                                                  "subresource": "proxy", "name": node}}}
        url = f"{self.server}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        async with aiohttp.ClientSession() as s, s.post(
                url, json=review, headers={"Authorization": f"Bearer {token}"},
                ssl=self.ssl_ctx, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            body = await resp.json() if resp.status == 201 else {}
        ok = bool((body.get("status") or {}).get("allowed"))
        if ok:
            self._ok[key] = time.monotonic() + TOKEN_CACHE_SECONDS
        return ok


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


class KubeletServer:
    def __init__(self, runtime: DockerRuntime, resolve: Resolver, check_token: TokenCheck,
                 node: str = "", check_node: NodeCheck | None = None,
                 config: Callable[[], dict[str, Any]] | None = None) -> None:
        self.runtime, self.resolve, self.check_token = runtime, resolve, check_token
        self.node, self.check_node, self.config = node, check_node, config
        self.app = web.Application(middlewares=[self._auth])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/configz", self._configz)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        self.app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        self.app.router.add_route("*", "/portForward/{namespace}/{pod}",
                                  portforward.handler(runtime))
        self.port = 0

    @web.middleware
    async def _auth(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        ns, pod = request.match_info.get("namespace", ""), request.match_info.get("pod", "")
        if not token:
            raise web.HTTPUnauthorized(text="Unauthorized")
        if request.path == "/configz" or request.path.startswith("/debug/"):
            if self.check_node is None or not await self.check_node(token, self.node):
                raise web.HTTPForbidden(text=f"Forbidden (user may not get nodes/proxy "
                                             f"{self.node})")
        elif not await self.check_token(token, ns, pod):
            raise web.HTTPForbidden(text=f"Forbidden (user may not get pod {ns}/{pod})")
        return await handler(request)

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
        if spdy_exec.is_spdy(request):  # kubectl before 1.30
            return await spdy_exec.serve(
                request, lambda: ExecSession.start(self.runtime, cid, cmd, **opts), **opts)
        ws = web.WebSocketResponse(protocols=ch.PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        v5 = ws.ws_protocol == "v5.channel.k8s.io"
        try:
            session = await ExecSession.start(
                self.runtime, cid, cmd, stdin=_flag(request, "stdin"),
                stdout=_flag(request, "stdout"), stderr=_flag(request, "stderr"),
                tty=_flag(request, "tty"))
        except Exception as e:  # noqa: BLE001 - any start failure goes to the error channel
            await ws.send_bytes(ch.status_frame(ch.error_status(str(e))))
            await ws.close()
            return ws

        async def out(channel: int, data: bytes) -> None:
            await ws.send_bytes(ch.frame(channel, data))

        async def inbound() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:  # the Python client writes stdin as text
                    raw = msg.data.encode()
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    raw = msg.data
                else:
                    continue
                channel, data = ch.parse(raw)
                if channel == ch.STDIN and data:
                    await session.write(data)
                elif channel == ch.RESIZE:
                    size = json.loads(data)
                    await session.resize(int(size["Width"]), int(size["Height"]))
                elif v5 and channel == ch.CLOSE and data[:1] == bytes([ch.STDIN]):
                    session.close_stdin()
            session.close_stdin()

        reader = asyncio.create_task(inbound(), name=f"exec-in-{cid[:12]}")
        try:
            await session.pump(out)
            code = await session.exit_code()
            await ws.send_bytes(ch.status_frame(ch.exit_status(code)))
        except ConnectionResetError:
            log.info("exec client went away container=%s", cid[:12])
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            session.close()
            await ws.close()
        return ws

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
