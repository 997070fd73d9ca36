"""metrics.k8s.io/v1beta1 over HTTPS: NodeMetrics and PodMetrics, as metrics-server serves.

Every request but the health checks is authenticated by the front-proxy headers
(requestheader.py) and authorized by asking the api-server (a SubjectAccessReview, as
k8s.io/apiserver's delegating authorizer; decisions kept AUTHZ_TTL seconds), so the
api-server's RBAC decides here too. Lists honour labelSelector against the node and pod
labels the informers hold; an object without metrics yet is a 404 naming it as
metrics-server does (`nodemetrics.metrics.k8s.io "n1" not found`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from minikube_py.api import errors, meta
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, Informer
from minikube_py.metrics_server.requestheader import RequestHeaderConfig, User, authenticate
from minikube_py.metrics_server.storage import MetricsStorage, Usage

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
AUTHZ_TTL = 10.0
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
RESOURCES: Object = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION,
    "resources": [{"name": "nodes", "singularName": "", "namespaced": False,
                   "kind": "NodeMetrics", "verbs": ["get", "list"]},
                  {"name": "pods", "singularName": "", "namespaced": True,
                   "kind": "PodMetrics", "verbs": ["get", "list"]}]}
GROUP_DOC: Object = {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [
    {"groupVersion": API_VERSION, "version": VERSION}], "preferredVersion": {
    "groupVersion": API_VERSION, "version": VERSION}}
HEALTH = ("/healthz", "/livez", "/readyz")

STORAGE = web.AppKey("storage", MetricsStorage)
CLIENT = web.AppKey("client", ApiClient)
NODES = web.AppKey("nodes", Informer)
PODS = web.AppKey("pods", Informer)
REQUEST_HEADER = web.AppKey("requestheader", RequestHeaderConfig)
DECISIONS: web.AppKey[dict[tuple[Any, ...], tuple[bool, float]]] = web.AppKey("decisions")
USER = "metrics_server.user"


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code}, status=code)


def _time(seconds: float) -> str:
    return meta.format_time(datetime.fromtimestamp(seconds, UTC))


def _window(seconds: float) -> str:
    """A metav1.Duration as Go prints one under a minute ("15.004s")."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def quantities(usage: Usage) -> dict[str, str]:
    memory = usage.memory_bytes
    return {"cpu": f"{usage.cpu_nanocores}n",
            "memory": f"{memory // 1024}Ki" if memory % 1024 == 0 else str(memory)}


def node_metrics(node: Object, usage: Usage) -> Object:
    meta = as_dict(node.get("metadata"))
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": {
        "name": meta.get("name"), "creationTimestamp": _time(time.time()),
        "labels": meta.get("labels") or {}}, "timestamp": _time(usage.timestamp),
        "window": _window(usage.window), "usage": quantities(usage)}


def pod_metrics(pod: Object, containers: dict[str, Usage]) -> Object:
    meta = as_dict(pod.get("metadata"))
    newest = max(containers.values(), key=lambda u: u.timestamp)
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": {
        "name": meta.get("name"), "namespace": meta.get("namespace"),
        "creationTimestamp": _time(time.time()), "labels": meta.get("labels") or {}},
        "timestamp": _time(newest.timestamp), "window": _window(newest.window),
        "containers": [{"name": name, "usage": quantities(u)}
                       for name, u in sorted(containers.items())]}


def _selector(request: web.Request) -> LabelSelector:
    try:
        return LabelSelector.parse(request.query.get("labelSelector"))
    except errors.StatusError as e:
        raise web.HTTPBadRequest(text=e.message) from None


def _labels(obj: Object) -> dict[str, str]:
    return as_dict(as_dict(obj.get("metadata")).get("labels"))


def _attributes(request: web.Request) -> Object:
    """The SubjectAccessReview attributes of a request (resource or discovery path)."""
    parts = request.path.strip("/").split("/")[3:]  # after apis/metrics.k8s.io/v1beta1
    if request.path.rstrip("/") in ("/apis", f"/apis/{GROUP}", f"/apis/{API_VERSION}") \
            or request.path.startswith("/openapi"):
        return {"nonResourceAttributes": {"path": request.path, "verb": "get"}}
    namespace = ""
    if len(parts) >= 3 and parts[0] == "namespaces":
        namespace, parts = parts[1], parts[2:]
    name = parts[1] if len(parts) > 1 else ""
    return {"resourceAttributes": {"group": GROUP, "version": VERSION, "resource": parts[0],
                                   "namespace": namespace, "name": name,
                                   "verb": "get" if name else "list"}}


async def _allowed(request: web.Request, user: User) -> bool:
    attributes = _attributes(request)
    key = (user.name, user.groups, repr(sorted(attributes.items())))
    cache = request.app[DECISIONS]
    cached = cache.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user.name, "groups": list(user.groups),
                       "extra": user.extra, **attributes}}
    answer = await request.app[CLIENT].request("POST", REVIEWS, json=review)
    allowed = bool(as_dict(as_dict(answer).get("status")).get("allowed"))
    if len(cache) > 10000:
        cache.clear()
    cache[key] = (allowed, time.monotonic() + AUTHZ_TTL)
    return allowed


@web.middleware
async def delegated_auth(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    """401 unless the front proxy vouches for the user, 403 unless the api-server allows."""
    if request.path in HEALTH:
        return await handler(request)
    user = authenticate(request, request.app[REQUEST_HEADER])
    if user is None:
        return _status(401, "Unauthorized", "Unauthorized")
    if not await _allowed(request, user):
        return _status(403, "Forbidden", f'forbidden: User "{user.name}" cannot access '
                                         f"{request.path}")
    return await handler(request)


async def _health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _resources(_: web.Request) -> web.Response:
    return web.json_response(RESOURCES)


async def _group(_: web.Request) -> web.Response:
    return web.json_response(GROUP_DOC)


async def _groups(_: web.Request) -> web.Response:
    return web.json_response({"kind": "APIGroupList", "apiVersion": "v1",
                              "groups": [{k: v for k, v in GROUP_DOC.items()
                                          if k not in ("kind", "apiVersion")}]})


async def _nodes(request: web.Request) -> web.Response:
    storage, name = request.app[STORAGE], request.match_info.get("name")
    if name is not None:
        node, usage = request.app[NODES].get(name), storage.node(name)
        if node is None or usage is None:
            return _status(404, "NotFound", f'nodemetrics.{GROUP} "{name}" not found')
        return web.json_response(node_metrics(node, usage))
    items, selector = [], _selector(request)
    for node in request.app[NODES].list():
        usage = storage.node(str(as_dict(node.get("metadata")).get("name")))
        if usage is not None and selector.matches(_labels(node)):
            items.append(node_metrics(node, usage))
    items.sort(key=lambda i: str(i["metadata"]["name"]))
    return web.json_response({"kind": "NodeMetricsList", "apiVersion": API_VERSION,
                              "metadata": {}, "items": items})


async def _pods(request: web.Request) -> web.Response:
    namespace, name = request.match_info.get("namespace"), request.match_info.get("name")
    usage = request.app[STORAGE].pods()
    if name is not None:
        pod = request.app[PODS].get(f"{namespace}/{name}")
        containers = usage.get((str(namespace), name))
        if pod is None or containers is None:
            return _status(404, "NotFound", f'podmetrics.{GROUP} "{namespace}/{name}" not '
                                            "found")
        return web.json_response(pod_metrics(pod, containers))
    items, selector = [], _selector(request)
    for pod in request.app[PODS].list():
        meta = as_dict(pod.get("metadata"))
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        containers = usage.get((str(meta.get("namespace")), str(meta.get("name"))))
        if containers is not None and selector.matches(_labels(pod)):
            items.append(pod_metrics(pod, containers))
    items.sort(key=lambda i: (str(i["metadata"]["namespace"]), str(i["metadata"]["name"])))
    return web.json_response({"kind": "PodMetricsList", "apiVersion": API_VERSION,
                              "metadata": {}, "items": items})


def build(*, storage: MetricsStorage, client: ApiClient, nodes: Informer, pods: Informer,
          requestheader: RequestHeaderConfig) -> web.Application:
    app = web.Application(middlewares=[delegated_auth])
    app[STORAGE], app[CLIENT], app[NODES], app[PODS] = storage, client, nodes, pods
    app[REQUEST_HEADER], app[DECISIONS] = requestheader, {}
    for path in HEALTH:
        app.router.add_get(path, _health)
    base = f"/apis/{API_VERSION}"
    app.router.add_get("/apis", _groups)
    app.router.add_get(f"/apis/{GROUP}", _group)
    app.router.add_get(base, _resources)
    app.router.add_get(f"{base}/nodes", _nodes)
    app.router.add_get(f"{base}/nodes/{{name}}", _nodes)
    app.router.add_get(f"{base}/pods", _pods)
    app.router.add_get(f"{base}/namespaces/{{namespace}}/pods", _pods)
    app.router.add_get(f"{base}/namespaces/{{namespace}}/pods/{{name}}", _pods)
    return app
