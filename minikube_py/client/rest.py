"""`ApiClient`: the async REST client every component but the api-server uses.

One aiohttp session per client, so connections (and their TLS handshakes) are
kept alive and shared by every request and watch of a component. Errors come
back as the narrow classes of `client.errors`; a request that could not even
connect is retried for every verb (nothing was sent), a broken connection only
for reads (a write may have landed). A 429 with Retry-After (the api-server's
in-flight limit: nothing was done) is retried after the seconds it names, as
client-go does, at most 10 times. A caller cancelled mid-request does not cut
the exchange: it finishes in the background, so connections stay reusable and no
TLS socket is left half-closed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson

from minikube_py.api.backoff import Backoff
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.client.errors import ConnectionFailed, from_status, synthetic_status
from minikube_py.client.failover import ServerList, cannot_connect
from minikube_py.client.kubeconfig import ClientConfig, in_cluster_config, load_kubeconfig

log = logging.getLogger(__name__)

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_TOKEN_FILE_TTL = 60.0
_USER_AGENT = "minikube-py/0.1"
_LARGE_BODY = 512 * 1024
_CLOSE_GRACE = 2.0
# client-go's maxRetries for a 429 with Retry-After, and the longest wait we honour.
_THROTTLED_RETRIES = 10
_LONGEST_RETRY_AFTER = 10.0



def query_params(**kwargs: Any) -> dict[str, str]:
    """Query parameters the way Go parses them: drop None, booleans as true/false."""
    out: dict[str, str] = {}
    for name, value in kwargs.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class ApiClient:
    """Kubernetes REST verbs over one keep-alive connection pool."""

    def __init__(self, server: str | None = None, *, token: str | None = None,
                 ca_file: str | os.PathLike[str] | None = None,
                 insecure_skip_tls_verify: bool = False,
                 config: ClientConfig | None = None,
                 pool_size: int = 100, timeout: float = 60.0, retries: int = 3,
                 connect_timeout: float = 10.0) -> None:
        if config is None:
            if server is None:
                raise TypeError("ApiClient needs a server URL or a ClientConfig")
            config = ClientConfig(
                server=server.rstrip("/"), token=token,
                ca_data=Path(ca_file).read_bytes() if ca_file is not None else None,
                insecure_skip_tls_verify=insecure_skip_tls_verify,
            )
        self.config = config
        self.servers = ServerList(config.server)
        self._ssl = config.ssl_context()
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._token = config.token
        self._token_read_at = -_TOKEN_FILE_TTL

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | None = None,
                        context: str | None = None, **kwargs: Any) -> Self:
        return cls(config=load_kubeconfig(path, context), **kwargs)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> Self:
        return cls(config=in_cluster_config(), **kwargs)

    # -- lifecycle -------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        """Created on first use: aiohttp wants its session made inside the running loop."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, ssl=self._ssl if self._ssl is not None else False,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout,
                headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            )
        return self._session

    async def close(self) -> None:
        """Let requests of cancelled callers finish (briefly), then close every connection."""
        if self._inflight:
            _, late = await asyncio.wait(list(self._inflight), timeout=_CLOSE_GRACE)
            for exchange in late:
                exchange.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def use_token(self, token: str) -> None:
        """Send `token` from now on (a renewed, expiring service-account token)."""
        self._token = token

    def _auth_headers(self) -> dict[str, str]:
        if self.config.token_file is not None:
            now = time.monotonic()
            if now - self._token_read_at >= _TOKEN_FILE_TTL:
                self._token = self.config.read_token()
                self._token_read_at = now
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    @property
    def server(self) -> str:
        """Where requests go now: the configured server, or a fallback while it is away."""
        return self.servers.current

    # -- raw requests ----------------------------------------------------------

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      json: Any = None, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None) -> Any:
        """One API call: the decoded JSON answer (text if not JSON, None if empty);
        an error status raises its ApiError."""
        method = method.upper()
        hdrs = self._auth_headers()
        if headers:
            hdrs.update(headers)
        if json is not None:
            body = orjson.dumps(json)
            hdrs.setdefault("Content-Type", "application/json")
        # Shielded: a caller cancelled mid-request (leadership lost, shutdown) must
        # not cut a TLS connection half-way; the exchange finishes on its own and
        # the connection goes back to the pool. close() waits for stragglers.
        exchange = asyncio.ensure_future(self._exchange(method, path, params, body, hdrs))
        self._inflight.add(exchange)
        exchange.add_done_callback(self._exchange_done)
        status, raw, content_type = await asyncio.shield(exchange)
        if status >= 400:
            raise error_for(status, raw, content_type)
        if not raw:
            return None
        return orjson.loads(raw) if "json" in content_type else raw.decode(errors="replace")

    async def _exchange(self, method: str, path: str, params: Mapping[str, str] | None,
                        body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """Send one request (retrying what is safe to retry): (status, body, content type)."""
        backoff = Backoff(0.05, 1.0, jitter=0.2)
        attempt = throttled = 0
        while True:
            server = self.servers.pick()
            try:
                async with self._get_session().request(method, server + path,
                                                       params=params, data=_payload(body),
                                                       headers=headers) as resp:
                    raw = await resp.read()
                    wait = retry_after(resp.status, resp.headers.get("Retry-After"))
                    if wait is None or throttled == _THROTTLED_RETRIES:
                        return resp.status, raw, resp.content_type
                throttled += 1
                log.debug("throttled, retrying method=%s path=%s in=%.0fs", method, path, wait)
                await asyncio.sleep(wait)
            except (TimeoutError, aiohttp.ClientError) as e:
                attempt += 1
                # A server that cannot be reached, or went silent (a dead peer behind a
                # kept-alive connection), is left for the next; only a request that never
                # reached it is sent there at once.
                moved = (cannot_connect(e) or isinstance(e, TimeoutError)) and \
                    self.servers.failed(server)
                if moved and cannot_connect(e) and \
                        attempt <= self._retries + len(self.servers.fallbacks):
                    continue
                if not _retriable(e, method) or attempt > self._retries:
                    raise ConnectionFailed(f"{method} {path}: {type(e).__name__}: {e}") from e
                log.debug("retrying request method=%s path=%s attempt=%d error=%r",
                          method, path, attempt, e)
                await backoff.sleep()

    def _exchange_done(self, exchange: asyncio.Future[Any]) -> None:
        self._inflight.discard(exchange)
        if not exchange.cancelled():
            exchange.exception()  # retrieved: a cancelled caller's failure is nobody's news

    async def watch_path(self, path: str, params: Mapping[str, str]
                         ) -> AsyncGenerator[tuple[str, Object], None]:
        """Stream newline-delimited watch events.

        Without timeoutSeconds there is no timeout at all (the server ends it);
        with one, the client gives up 30 s after the server should have, so a
        silently dead connection cannot hang a watcher forever.
        """
        params = {**params, "watch": "true"}
        server_timeout = params.get("timeoutSeconds")
        total = int(server_timeout) + 30 if server_timeout else None
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=self._timeout.sock_connect,
                                        sock_read=None)
        server = self.servers.pick()
        try:
            async with self._get_session().get(server + path, params=params,
                                               headers=self._auth_headers(),
                                               timeout=timeout) as resp:
                if resp.status >= 400:
                    raise error_for(resp.status, await resp.read(), resp.content_type)
                try:
                    async for line in split_lines(resp.content.iter_any()):
                        event = orjson.loads(line)
                        etype, obj = event.get("type"), event.get("object") or {}
                        if etype == "ERROR":
                            raise from_status(obj)
                        yield etype, obj
                finally:
                    _abort_unfinished(resp)
        except (TimeoutError, aiohttp.ClientError) as e:
            if cannot_connect(e):
                self.servers.failed(server)  # the watcher's retry goes to the next one
            raise ConnectionFailed(f"WATCH {path}: {type(e).__name__}: {e}") from e

    # -- verbs -----------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> Object:
        result: Object = await self.request("GET", resource.path(namespace, name, subresource))
        return result

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None) -> Object:
        params = query_params(labelSelector=label_selector, fieldSelector=field_selector,
                         limit=limit, resourceVersion=resource_version,
                         **{"continue": continue_token})
        result: Object = await self.request("GET", resource.path(namespace), params=params)
        return result

    async def create(self, resource: Resource, obj: Object, namespace: str | None = None, *,
                     subresource: str | None = None, name: str | None = None) -> Object:
        """POST; `name`+`subresource` address e.g. pods/binding or serviceaccounts/token."""
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        if resource.namespaced and not ns:
            ns = "default"
        result: Object = await self.request("POST", resource.path(ns, name, subresource),
                                              json=obj)
        return result

    async def update(self, resource: Resource, obj: Object, *,
                     subresource: str | None = None) -> Object:
        """PUT the whole object; a stale metadata.resourceVersion raises Conflict."""
        meta = obj.get("metadata") or {}
        path = resource.path(meta.get("namespace"), meta["name"], subresource)
        result: Object = await self.request("PUT", path, json=obj)
        return result

    async def patch(self, resource: Resource, name: str, patch: Any,
                    namespace: str | None = None, *, patch_type: str = "merge",
                    subresource: str | None = None) -> Object:
        try:
            content_type = PATCH_CONTENT_TYPES[patch_type]
        except KeyError:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_CONTENT_TYPES)}") from None
        result: Object = await self.request(
            "PATCH", resource.path(namespace, name, subresource), body=orjson.dumps(patch),
            headers={"Content-Type": content_type})
        return result

    async def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None,
                     propagation_policy: str | None = None,
                     preconditions: Object | None = None) -> Object | None:
        """DELETE; the answer is the deleted object (or Status). NotFound is raised."""
        options: Object = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if preconditions is not None:
            options["preconditions"] = preconditions
        result: Object | None = await self.request(
            "DELETE", resource.path(namespace, name), json=options if len(options) > 2 else None)
        return result

    def watch(self, resource: Resource, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = False) -> AsyncGenerator[tuple[str, Object], None]:
        """(type, object) pairs: ADDED, MODIFIED, DELETED, BOOKMARK.

        An ERROR event raises its Status as an ApiError (410 -> `Gone`); a broken
        stream raises ConnectionFailed; the server ending the watch ends the loop.
        """
        params = query_params(resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, timeoutSeconds=timeout_seconds,
                         allowWatchBookmarks=allow_bookmarks or None)
        return self.watch_path(resource.path(namespace), params)


async def split_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Split a chunked body into non-empty lines of any length (readline() caps line size)."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            if end > start:
                yield bytes(buf[start:end])
            start = end + 1
        del buf[:start]
    if buf.strip():
        yield bytes(buf)


def _abort_unfinished(resp: aiohttp.ClientResponse) -> None:
    """A watch left mid-stream cannot go back to the pool: drop its connection now.

    A polite TLS close would wait for the server's close_notify (up to 30 s) and
    outlive a caller that closes its loop right after; a watch has nothing to flush.
    """
    connection = resp.connection
    if connection is not None and connection.transport is not None:
        connection.transport.abort()


def _retriable(error: BaseException, method: str) -> bool:
    """Could not connect: safe for any verb. Dropped connection: only for reads.
    Timeouts and certificate errors would only fail again."""
    if isinstance(error, (TimeoutError, aiohttp.ClientSSLError)):
        return False
    if isinstance(error, aiohttp.ClientConnectorError):
        return True
    return method in _SAFE_METHODS and isinstance(error, aiohttp.ClientConnectionError)


def retry_after(status: int, header: str | None) -> float | None:
    """Seconds to wait before sending again, if the answer says so (429 + Retry-After)."""
    if status != 429 or header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        return None
    return min(max(seconds, 0.0), _LONGEST_RETRY_AFTER)


def _payload(body: bytes | None) -> bytes | io.BytesIO | None:
    """aiohttp warns about (and writes in one go) raw bodies over 1 MiB; stream those."""
    if body is not None and len(body) > _LARGE_BODY:
        return io.BytesIO(body)
    return body


def error_for(code: int, raw: bytes, content_type: str) -> Exception:
    """The ApiError for an error response, whatever its body turned out to be."""
    status: Object | None = None
    if raw and "json" in content_type:
        try:
            decoded = orjson.loads(raw)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            status = decoded
    if status is None:
        text = raw[:500].decode(errors="replace").strip() or f"HTTP {code}"
        status = synthetic_status(code, text)
    return from_status(status, code)
