"""Calling an admission webhook: where it is, how to trust it, and what can go wrong.

A `url` client is called as written. A `service` client is reached at one of the
Service's ready endpoints (as kube-apiserver with endpoint routing: the control plane
need not route ClusterIPs), while TLS still verifies the name `<svc>.<ns>.svc`. Each
caBundle gets one pooled ClientSession (kept-alive connections make a call cost a
round trip, not a handshake); no caBundle trusts the system roots.

Failures are `CallError`s phrased as kube-apiserver's client phrases them
(`Post "https://svc.ns.svc:443/path?timeout=10s": context deadline exceeded`); the
dispatcher decides by failurePolicy whether they fail the request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Any

import aiohttp
import orjson

from minikube_py.api import errors
from minikube_py.api.resources import ENDPOINTS, SERVICES
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.api.webhookrules import Service, Webhook
from minikube_py.apiserver.objects import ObjectStore

log = logging.getLogger(__name__)


class CallError(Exception):
    """The webhook could not be called or answered nonsense (ErrCallingWebhook)."""


def display_url(hook: Webhook) -> str:
    """The URL kube-apiserver posts to (and names in errors), with its ?timeout=."""
    if hook.service is not None:
        svc = hook.service
        base = f"https://{svc.name}.{svc.namespace}.svc:{svc.port}{svc.path}"
    else:
        base = hook.url or ""
    return f"{base}?timeout={hook.timeout}s"


def _tls(ca_bundle: bytes) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cadata=ca_bundle.decode())
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as e:
        raise CallError(f"invalid caBundle: {e}") from e


def _target_port(service: Object, port: int) -> tuple[str, Any]:
    """(service port name, targetPort) of the Service's port `port`."""
    for entry in dicts(as_dict(service.get("spec")).get("ports")):
        if entry.get("port") == port:
            return str(entry.get("name") or ""), entry.get("targetPort", port)
    name = as_dict(service.get("metadata")).get("name")
    raise CallError(f'service "{name}" has no port {port}')


def _endpoint(endpoints: Object, port_name: str, target: Any) -> tuple[str, int]:
    for subset in dicts(endpoints.get("subsets")):
        ports = [p for p in dicts(subset.get("ports")) if str(p.get("name") or "") == port_name]
        addresses = dicts(subset.get("addresses"))
        if ports and addresses:
            return str(addresses[0]["ip"]), int(ports[0]["port"])
        if addresses and isinstance(target, int) and not subset.get("ports"):
            return str(addresses[0]["ip"]), target
    name = as_dict(endpoints.get("metadata")).get("name")
    raise CallError(f'no endpoints available for service "{name}"')


class WebhookClients:
    """Resolve and call webhooks; one pooled session per CA bundle."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.sessions: dict[bytes, aiohttp.ClientSession] = {}

    def _session(self, ca_bundle: bytes) -> aiohttp.ClientSession:
        session = self.sessions.get(ca_bundle)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(ssl=_tls(ca_bundle), limit=100,
                                             keepalive_timeout=60)
            session = self.sessions[ca_bundle] = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda v: orjson.dumps(v).decode())
        return session

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            await session.close()

    async def _resolve(self, svc: Service) -> tuple[str, int]:
        """The (ip, port) of a ready endpoint behind the service's port."""
        try:
            service, endpoints = await asyncio.gather(
                self.store.get(SERVICES, svc.namespace, svc.name),
                self.store.get(ENDPOINTS, svc.namespace, svc.name))
        except errors.StatusError as e:
            if e.code == 404:
                raise CallError(f'service "{svc.name}" not found') from None
            raise CallError(e.message) from None
        port_name, target = _target_port(service, svc.port)
        return _endpoint(endpoints, port_name, target)

    async def post(self, hook: Webhook, review: Object) -> Object:
        """POST the AdmissionReview; the decoded response body, or CallError."""
        shown = display_url(hook)
        try:
            return await asyncio.wait_for(self._post(hook, review, shown), hook.timeout)
        except TimeoutError:
            raise CallError(f'failed to call webhook: Post "{shown}": context deadline '
                            "exceeded") from None
        except CallError as e:
            raise CallError(f'failed to call webhook: Post "{shown}": {e}') from None

    async def _post(self, hook: Webhook, review: Object, shown: str) -> Object:
        session = self._session(hook.ca_bundle)
        extra: dict[str, Any] = {}
        url = shown
        if hook.service is not None:
            svc = hook.service
            ip, port = await self._resolve(svc)
            host = f"[{ip}]" if ":" in ip else ip
            url = f"https://{host}:{port}{svc.path}?timeout={hook.timeout}s"
            extra = {"server_hostname": f"{svc.name}.{svc.namespace}.svc",
                     "headers": {"Host": f"{svc.name}.{svc.namespace}.svc:{svc.port}"}}
        try:
            async with session.post(url, data=orjson.dumps(review),
                                    headers={**extra.pop("headers", {}),
                                             "Content-Type": "application/json",
                                             "Accept": "application/json"},
                                    **extra) as response:
                body = await response.read()
        except aiohttp.ClientConnectorCertificateError as e:
            raise CallError(f"tls: failed to verify certificate: x509: "
                            f"{e.certificate_error}") from None
        except aiohttp.ClientConnectorError as e:
            reason = os.strerror(e.os_error.errno) if e.os_error.errno else str(e.os_error)
            raise CallError(f"dial tcp {e.host}:{e.port}: connect: {reason.lower()}") \
                from None
        except aiohttp.ClientError as e:
            raise CallError(str(e) or type(e).__name__) from None
        if response.status != 200:
            raise CallError(f'an error on the server ("{body[:256].decode(errors="replace")}")'
                            f" has prevented the request from succeeding "
                            f"(status {response.status})")
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise CallError(f"error decoding response: {e}") from None
        if not isinstance(decoded, dict):
            raise CallError("error decoding response: not an object")
        return decoded
