"""Requests for an aggregated group/version, authorized here and proxied to its server.

kube-apiserver runs its whole filter chain (authentication, impersonation, RBAC) before
the aggregator hands a request on, so a backend sees only requests the user may make,
attributed in X-Remote-* headers over the front-proxy certificate. The answer, watch
streams included, is relayed chunk by chunk with its status and headers.
"""

from __future__ import annotations

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.apiserver.aggregation_backend import (
    Unavailable,
    forwarded_headers,
    response_headers,
)
from minikube_py.apiserver.authn import USER
from minikube_py.apiserver.authz import authorize
from minikube_py.apiserver.state import BACKENDS
from minikube_py.apiserver.target import Target


def target_of(group: str, version: str, parts: list[str]) -> Target:
    """What RBAC decides on for a path in a group this server does not know: the
    resource is only a name here (its kind is the backend's business)."""
    if not parts or any(not p for p in parts) or len(parts) > 5:
        raise errors.StatusError(404, "NotFound", "the server could not find the requested "
                                 "resource")
    namespace = None
    if parts[0] == "namespaces" and len(parts) >= 3:
        namespace, parts = parts[1], parts[2:]
    resource = Resource(group, version, "", parts[0], namespace is not None)
    return Target(resource, namespace, parts[1] if len(parts) > 1 else None,
                  parts[2] if len(parts) > 2 else None)


async def resource(request: web.Request, obj: Object, group: str, version: str
                   ) -> web.StreamResponse:
    """/apis/<group>/<version>/<tail>: RBAC on the request's attributes, then proxy."""
    await authorize(request, target_of(group, version,
                                       request.match_info.get("tail", "").split("/")))
    return await proxy(request, obj)


async def proxy(request: web.Request, obj: Object) -> web.StreamResponse:
    """Relay the request to the APIService's server as the authenticated user."""
    body = await request.read() if request.can_read_body else None
    headers = forwarded_headers(request.headers, request[USER])
    try:
        async with request.app[BACKENDS].open(obj, request.method, request.rel_url.raw_path_qs,
                                              headers, body) as upstream:
            response = web.StreamResponse(status=upstream.status,
                                          headers=response_headers(upstream.headers))
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    except Unavailable as e:
        raise e.status() from None
