"""Subresources: status, pods/binding, */scale, namespaces/finalize, serviceaccounts/token
(tokenrequest.py); log and exec are proxied to the node, see proxy.py.

status writes go through the strategy with subresource="status" (spec is kept,
only status changes); scale is scale.py; binding sets a pod's nodeName once.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import PODS
from minikube_py.api.types import Object
from minikube_py.apiserver import codec, nodeproxy, portforward, proxy, rest, scale, tokenrequest
from minikube_py.apiserver import eviction as eviction_policy
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target

Handler = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]


async def _parent(request: web.Request, target: Target) -> Object:
    assert target.name is not None
    return await request.app[OBJECTS].get(target.resource, target.namespace, target.name)


async def status(request: web.Request, target: Target) -> web.Response:
    if request.method == "GET":
        return rest.respond(request, target.resource, await _parent(request, target))
    if request.method == "PUT":
        return await rest.update(request, target)
    if request.method == "PATCH":
        return await rest.patch(request, target)
    raise errors.method_not_allowed()


async def finalize(request: web.Request, target: Target) -> web.Response:
    """PUT namespaces/x/finalize: only spec.finalizers changes (namespace controller)."""
    if request.method != "PUT":
        raise errors.method_not_allowed()
    body = await codec.read_object(request)
    rest.check_kind(target.resource, body)

    async def mutate(current: Object) -> Object:
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["finalizers"] = (body.get("spec") or {}).get("finalizers", [])
        return new
    assert target.name is not None
    store = request.app[OBJECTS]
    current = await store.get(target.resource, None, target.name)
    new = await mutate(current)
    if not new["spec"]["finalizers"] and current["metadata"].get("deletionTimestamp") \
            and not current["metadata"].get("finalizers"):
        gone = await store.delete(target.resource, current,
                                  int(current["metadata"]["resourceVersion"]))
        return rest.respond(request, target.resource, gone)
    stored = await store.update(target.resource, new, int(current["metadata"]["resourceVersion"]))
    return rest.respond(request, target.resource, stored)


async def binding(request: web.Request, target: Target) -> web.Response:
    """POST pods/x/binding: set spec.nodeName if the pod has none (409 otherwise)."""
    if request.method != "POST":
        raise errors.method_not_allowed()
    body = await codec.read_object(request)
    node = (body.get("target") or {}).get("name") if isinstance(body.get("target"), dict) \
        else None
    if not node or not isinstance(node, str):
        raise errors.invalid(PODS, target.name or "", [errors.Cause(
            "target.name", "Required value", "FieldValueRequired")])
    store = request.app[OBJECTS]
    assert target.name is not None
    pod = await store.get(PODS, target.namespace, target.name)
    uid = ((body.get("metadata") or {}) if isinstance(body.get("metadata"), dict) else {}
           ).get("uid")
    if uid and uid != pod["metadata"].get("uid"):
        raise errors.conflict(PODS, target.name, "Precondition failed: UID in precondition: "
                              f"{uid}, UID in object meta: {pod['metadata'].get('uid')}")
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict(PODS, target.name, "pod is being deleted, cannot be assigned to "
                              "a host")
    current = (pod.get("spec") or {}).get("nodeName")
    if current:
        raise errors.conflict(PODS, target.name, f"pod {target.name} is already assigned to "
                              f"node \"{current}\"")
    pod["spec"]["nodeName"] = node
    annotations = (body.get("metadata") or {}).get("annotations") if isinstance(
        body.get("metadata"), dict) else None
    if isinstance(annotations, dict):
        pod["metadata"].setdefault("annotations", {}).update(annotations)
    await store.update(PODS, pod, int(pod["metadata"]["resourceVersion"]))
    return codec.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Success", "code": 201}, 201)


async def eviction(request: web.Request, target: Target) -> web.Response:
    """POST pods/x/eviction (kubectl drain): a graceful delete with the Eviction's
    deleteOptions, refused (429) when it would break a PodDisruptionBudget."""
    if request.method != "POST":
        raise errors.method_not_allowed()
    body = await codec.read_object(request)
    options = body.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise errors.bad_request("deleteOptions must be an object")
    await eviction_policy.evict(request.app, target, options, rest.dry_run(request))
    return codec.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Success", "code": 201}, 201)


HANDLERS: dict[str, Handler] = {
    "status": status, "finalize": finalize, "binding": binding, "scale": scale.scale,
    "eviction": eviction, "token": tokenrequest.token,
    "log": proxy.container_log, "exec": proxy.exec_, "attach": proxy.attach, "portforward": portforward.port_forward,
    "proxy": nodeproxy.node_proxy,
}


async def dispatch(request: web.Request, target: Target) -> web.StreamResponse:
    assert target.subresource is not None
    handler = HANDLERS.get(target.subresource)
    if handler is None:
        raise errors.StatusError(404, "NotFound", f"the server could not find the requested "
                                 f"resource ({target.resource.plural}/{target.subresource})")
    result: web.StreamResponse = await handler(request, target)
    return result
