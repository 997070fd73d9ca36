"""URL -> handler: discovery, health, metrics and every resource verb.

Resource paths go through one catch-all route per prefix and `target.parse`,
then a (scope, method) table picks the verb; anything else is 405.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.apiserver import (
    accessreviews,
    aggregation,
    aggregation_proxy,
    codec,
    deletion,
    listing,
    rest,
    selfreviews,
    subresources,
    tokenreviews,
    watch,
)
from minikube_py.apiserver.authz import authorize, authorize_path
from minikube_py.apiserver.state import AGGREGATOR, CRDS, METRICS, SETTINGS, STORAGE
from minikube_py.apiserver.target import Target, parse

log = logging.getLogger(__name__)

from minikube_py.apiserver import discovery, healthchecks, openapi_v3
from minikube_py.apiserver import openapi as openapi_doc

Handler = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]
VERSION_INFO = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-minikube-py",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "",
                "goVersion": f"python{platform.python_version()}", "compiler": "cpython",
                "platform": "linux/amd64"}
VERB_LABEL = "minikube_py.verb"
RESOURCE_LABEL = "minikube_py.resource"


async def _collection_get(request: web.Request, target: Target) -> web.StreamResponse:
    if codec.go_bool(request.query.get("watch"), "watch"):
        request[VERB_LABEL] = "WATCH"
        return await watch.watch_handler(request, target)
    request[VERB_LABEL] = "LIST"
    return await listing.list_handler(request, target)


async def _item_get(request: web.Request, target: Target) -> web.StreamResponse:
    if codec.go_bool(request.query.get("watch"), "watch"):
        request[VERB_LABEL] = "WATCH"
        return await watch.watch_handler(request, target)
    return await rest.get(request, target)


VERBS: dict[tuple[str, str], Handler] = {
    ("collection", "GET"): _collection_get,
    ("collection", "POST"): rest.create,
    ("collection", "DELETE"): deletion.delete_collection,
    ("item", "GET"): _item_get,
    ("item", "PUT"): rest.update,
    ("item", "PATCH"): rest.patch,
    ("item", "DELETE"): deletion.delete,
}


async def _resource(request: web.Request, group: str, version: str) -> web.StreamResponse:
    tail = request.match_info.get("tail", "")
    target = parse(group, version, tail.split("/"), request.path)
    request[RESOURCE_LABEL] = target.resource.plural + (
        f"/{target.subresource}" if target.subresource else "")
    request[VERB_LABEL] = request.method
    await authorize(request, target)
    if target.subresource:
        return await subresources.dispatch(request, target)
    handler = VERBS.get((target.verb_scope, request.method))
    if handler is None:
        raise errors.method_not_allowed()
    return await handler(request, target)


async def core(request: web.Request) -> web.StreamResponse:
    return await _resource(request, "", "v1")


async def grouped(request: web.Request) -> web.StreamResponse:
    group, version = request.match_info["group"], request.match_info["version"]
    backend = request.app[AGGREGATOR].backend(group, version)
    if backend is not None:
        request[RESOURCE_LABEL] = f"{group}/{version}"
        return await aggregation_proxy.resource(request, backend, group, version)
    return await _resource(request, group, version)


def _found(doc: dict[str, Any] | None, path: str) -> web.Response:
    if doc is None:
        raise errors.StatusError(404, "NotFound", f"the server could not find the requested "
                                 f"resource ({path})")
    return codec.json_response(doc)


async def _aggregated(request: web.Request, core: bool) -> web.Response | None:
    """The aggregated document when the client asks for it (kubectl >= 1.30 does); /apis
    also lists what aggregated servers serve."""
    version = discovery.aggregated_version(request.headers.get("Accept", ""))
    if version is None:
        return None
    doc = discovery.aggregated(core, version, subresources.HANDLERS)
    if not core:
        doc["items"] += await aggregation.aggregated_items(request.app[AGGREGATOR])
    return web.Response(body=codec.dumps(doc), headers={"Vary": "Accept"},
        content_type=codec.JSON_TYPE + f";g=apidiscovery.k8s.io;v={version};"
        "as=APIGroupDiscoveryList")


async def api_root(request: web.Request) -> web.Response:
    found = await _aggregated(request, core=True)
    if found is not None:
        return found
    settings = request.app[SETTINGS]
    return codec.json_response(discovery.api_versions(
        f"{settings.endpoint_address}:{settings.port}"))


async def api_v1(request: web.Request) -> web.Response:
    return _found(discovery.api_resource_list("", "v1", subresources.HANDLERS), request.path)


async def apis_root(request: web.Request) -> web.Response:
    found = await _aggregated(request, core=False)
    if found is not None:
        return found
    doc = discovery.api_group_list()
    doc["groups"] += [aggregation.group_entry(g, objs)
                      for g, objs in request.app[AGGREGATOR].groups().items()]
    return codec.json_response(doc)


async def api_group(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    objs = request.app[AGGREGATOR].groups().get(group)
    if objs:
        return codec.json_response({"kind": "APIGroup", "apiVersion": "v1",
                                    **aggregation.group_entry(group, objs)})
    return _found(discovery.api_group(group), request.path)


async def api_group_version(request: web.Request) -> web.StreamResponse:
    backend = request.app[AGGREGATOR].backend(request.match_info["group"],
                                              request.match_info["version"])
    if backend is not None:
        return await aggregation_proxy.proxy(request, backend)
    return _found(discovery.api_resource_list(request.match_info["group"],
                                              request.match_info["version"],
                                              subresources.HANDLERS), request.path)


async def openapi(request: web.Request) -> web.Response:
    body, content_type = openapi_doc.openapi_v2_response(request.headers.get("Accept", ""),
                                                         request.app[CRDS].generation)
    return web.Response(body=body, content_type=content_type)


async def openapi_v3_index(request: web.Request) -> web.Response:
    return web.Response(body=openapi_v3.index(request.app[CRDS].generation),
                        content_type="application/json")


async def openapi_v3_document(request: web.Request) -> web.Response:
    """One group/version's document; the `hash` query only busts clients' caches."""
    body = openapi_v3.documents(request.app[CRDS].generation).get(request.match_info["gv"])
    if body is None:
        raise errors.StatusError(404, "NotFound", "the server could not find the requested "
                                 f"resource (openapi/v3/{request.match_info['gv']})")
    return web.Response(body=body, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    """/healthz, /livez and /readyz: kube-apiserver's checks and answer format."""
    return await healthchecks.respond(request, request.path.lstrip("/"),
                                      request.app[STORAGE].current_revision)


async def version(request: web.Request) -> web.Response:
    return codec.json_response(VERSION_INFO)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(text=request.app[METRICS].render(),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


@web.middleware
async def status_errors(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    """Every failure becomes a metav1.Status; an unexpected one is logged and a 500
    without a traceback. Also records the request's metrics."""
    start = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except errors.StatusError as e:
        code = e.code
        return codec.status_response(e)
    except web.HTTPException as e:
        code = e.status
        if e.status == 404:
            return codec.status_response(errors.StatusError(
                404, "NotFound", "the server could not find the requested resource"))
        if e.status == 405:
            return codec.status_response(errors.method_not_allowed())
        if e.status == 413:
            return codec.status_response(errors.too_large())
        raise
    except Exception:
        log.exception("unhandled error method=%s path=%s", request.method, request.path)
        return codec.status_response(errors.internal_error("unexpected server error"))
    finally:
        request.app[METRICS].observe_request(request.get(VERB_LABEL, request.method),
                                             request.get(RESOURCE_LABEL, ""), code,
                                             time.perf_counter() - start)


def _authorized(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A non-resource path RBAC decides on (nonResourceURLs: /apis/*, /metrics ...)."""
    async def checked(request: web.Request) -> web.StreamResponse:
        authorize_path(request)
        return await handler(request)
    return checked


def add_routes(app: web.Application) -> None:
    r = app.router
    # kube-apiserver answers /version/, /api/ and /apis/ as their slash-less paths.
    for path, handler in (("/healthz", healthz), ("/livez", healthz), ("/readyz", healthz),
                          ("/version", version), ("/version/", version)):
        r.add_get(path, handler)  # anonymous (system:public-info-viewer)
    discovery_routes: list[tuple[str, Callable[[web.Request],
                                                Awaitable[web.StreamResponse]]]] = [
        ("/metrics", metrics), ("/api", api_root), ("/api/", api_root), ("/api/v1", api_v1),
        ("/apis", apis_root), ("/apis/", apis_root), ("/apis/{group}", api_group),
        ("/apis/{group}/{version}", api_group_version), ("/openapi/v2", openapi),
        ("/openapi/v3", openapi_v3_index), ("/openapi/v3/{gv:.+}", openapi_v3_document)]
    for path, route in discovery_routes:
        r.add_get(path, _authorized(route))
    r.add_post(selfreviews.WHOAMI_PATH, selfreviews.whoami)  # before the catch-all below
    r.add_post(selfreviews.CAN_I_PATH, selfreviews.can_i)
    r.add_post(selfreviews.RULES_PATH, selfreviews.rules_review)
    accessreviews.add_routes(app)
    tokenreviews.add_routes(app)
    r.add_route("*", "/api/v1/{tail:.+}", core)
    r.add_route("*", "/apis/{group}/{version}/{tail:.+}", grouped)
