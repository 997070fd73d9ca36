"""Reaching the server behind an APIService: endpoint, TLS, front-proxy identity.

As kube-aggregator with --enable-aggregator-routing: the Service is resolved to one
ready address of its Endpoints (the port named like the Service port that matches
`spec.service.port`), so the api-server needs no route to ClusterIPs. TLS is checked
against `spec.caBundle` for the name `<service>.<namespace>.svc` unless
`insecureSkipTLSVerify`, and the api-server presents its front-proxy client
certificate; the user rides in X-Remote-* headers (front_proxy.py).
"""

from __future__ import annotations

import contextlib
import random
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict

from minikube_py.api import apiservice, errors
from minikube_py.api.resources import ENDPOINTS, SERVICES
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.apiserver.authn import User
from minikube_py.apiserver.front_proxy import FrontProxyPki
from minikube_py.apiserver.objects import ObjectStore

# Who the api-server is when it asks a backend for its discovery document itself.
AGGREGATOR_USER = User("system:kube-aggregator", ("system:masters",))
# Never forwarded: hop-by-hop, our credentials, and identity headers only we may set.
_DROPPED = frozenset({"authorization", "connection", "keep-alive", "proxy-authenticate",
                      "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
                      "host", "content-length", "accept-encoding", "content-encoding"})
_DROPPED_PREFIXES = ("impersonate-", "x-remote-")


class Unavailable(Exception):
    """The backend cannot be reached; `reason` is the Available condition's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message

    def status(self) -> errors.StatusError:
        return errors.StatusError(503, "ServiceUnavailable", self.message)


def identity_headers(user: User) -> CIMultiDict[str]:
    """X-Remote-User, one X-Remote-Group per group, X-Remote-Extra-<escaped key>."""
    headers: CIMultiDict[str] = CIMultiDict({"X-Remote-User": user.name})
    for group in user.groups:
        headers.add("X-Remote-Group", group)
    for key, value in user.extra.items():
        headers.add("X-Remote-Extra-" + urllib.parse.quote(key, safe=""), value)
    return headers


def forwarded_headers(incoming: Mapping[str, str], user: User) -> CIMultiDict[str]:
    """The client's headers minus what must not pass, plus the user's identity."""
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in incoming.items():
        low = key.lower()
        if low not in _DROPPED and not low.startswith(_DROPPED_PREFIXES):
            headers.add(key, value)
    headers.extend(identity_headers(user))
    return headers


def response_headers(upstream: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in upstream.items() if k.lower() not in _DROPPED)


def _endpoint(service: Object, endpoints: Object, ref: Mapping[str, Any]) -> tuple[str, int]:
    name, namespace, port = ref.get("name"), ref.get("namespace"), ref.get("port")
    service_port = next((p for p in dicts(as_dict(service.get("spec")).get("ports"))
                         if p.get("port") == port), None)
    if service_port is None:
        raise Unavailable("ServicePortError", f'service/{name} in "{namespace}" is not '
                                              f"listening on port {port}")
    port_name = service_port.get("name") or ""
    choices = [(str(a.get("ip")), int(p.get("port") or 0))
               for subset in dicts(endpoints.get("subsets"))
               for p in dicts(subset.get("ports")) if (p.get("name") or "") == port_name
               for a in dicts(subset.get("addresses")) if a.get("ip")]
    if not choices:
        raise Unavailable("MissingEndpoints", f'endpoints for service/{name} in "{namespace}"'
                                              f' have no addresses with port name "{port_name}"')
    return random.choice(choices)


class Backends:
    """One HTTP session for every aggregated server, TLS contexts cached per caBundle."""

    def __init__(self, store: ObjectStore, front_proxy: FrontProxyPki) -> None:
        self.store = store
        self.front_proxy = front_proxy
        self._contexts: dict[tuple[bytes, bool], ssl.SSLContext] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def resolve(self, obj: Object) -> tuple[str, int]:
        """A ready address and port of the APIService's Service (Unavailable if none)."""
        ref = apiservice.service_ref(obj) or {}
        name, namespace = str(ref.get("name")), str(ref.get("namespace"))
        try:
            service = await self.store.get(SERVICES, namespace, name)
        except errors.StatusError as e:
            if e.code == 404:
                raise Unavailable("ServiceNotFound", f'service/{name} in "{namespace}" is not '
                                                     "present") from None
            raise
        try:
            endpoints = await self.store.get(ENDPOINTS, namespace, name)
        except errors.StatusError as e:
            if e.code == 404:
                raise Unavailable("EndpointsNotFound", f"cannot find endpoints for service/"
                                                       f'{name} in "{namespace}"') from None
            raise
        return _endpoint(service, endpoints, ref)

    def tls(self, obj: Object) -> ssl.SSLContext:
        bundle = apiservice.ca_bundle(obj)
        skip = bool(as_dict(obj.get("spec")).get("insecureSkipTLSVerify"))
        context = self._contexts.get((bundle, skip))
        if context is None:
            if skip:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif bundle:
                try:
                    context = ssl.create_default_context(cadata=bundle.decode())
                except (ssl.SSLError, ValueError) as e:
                    raise Unavailable("FailedDiscoveryCheck",
                                      f"spec.caBundle is not a usable CA bundle: {e}") from None
            else:
                context = ssl.create_default_context()  # system roots, as kube-aggregator
            context.load_cert_chain(self.front_proxy.client_cert, self.front_proxy.client_key)
            self._contexts[(bundle, skip)] = context
        return context

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=5), auto_decompress=True)
        return self._session

    @contextlib.asynccontextmanager
    async def open(self, obj: Object, method: str, path_qs: str, headers: CIMultiDict[str],
                   body: bytes | None = None, *, timeout: float | None = None
                   ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The backend's response to one request (its body still to be read)."""
        ip, port = await self.resolve(obj)
        ref = apiservice.service_ref(obj) or {}
        host = f"[{ip}]" if ":" in ip else ip
        try:
            async with self._http().request(
                    method, f"https://{host}:{port}{path_qs}", headers=headers, data=body,
                    ssl=self.tls(obj), allow_redirects=False,
                    server_hostname=f"{ref.get('name')}.{ref.get('namespace')}.svc",
                    timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=5)) as response:
                yield response
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise Unavailable("FailedDiscoveryCheck",
                              f"error trying to reach service: {e}") from None

    async def get_json(self, obj: Object, path: str, timeout: float = 5.0) -> Object:
        """GET `path` as the aggregator itself (discovery, availability); Unavailable
        unless it answers 200 with a JSON object."""
        headers = identity_headers(AGGREGATOR_USER)
        headers["Accept"] = "application/json"
        async with self.open(obj, "GET", path, headers, timeout=timeout) as response:
            if response.status != 200:
                raise Unavailable("FailedDiscoveryCheck", f"failing or missing response from "
                                  f"{response.url}: bad status from {response.url}: "
                                  f"{response.status}")
            try:
                doc = await response.json(content_type=None)
            except (ValueError, aiohttp.ClientError) as e:
                raise Unavailable("FailedDiscoveryCheck", f"invalid discovery document from "
                                                          f"{response.url}: {e}") from None
        if not isinstance(doc, dict):
            raise Unavailable("FailedDiscoveryCheck", f"invalid discovery document from {path}")
        return doc
