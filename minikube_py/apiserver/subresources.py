"""Subresources: status, pods/binding, */scale, namespaces/finalize, serviceaccounts/token
(tokenrequest.py); log and exec are proxied to the node, see proxy.py.

status writes go through the strategy with subresource="status" (spec is kept,
only status changes); scale reads and writes spec.replicas of the parent as an
autoscaling/v1 Scale; binding sets a pod's nodeName once.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.jsonpath import json_path, set_path
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import PODS
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object
from minikube_py.apiserver import codec, nodeproxy, portforward, proxy, rest, tokenrequest
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


def to_scale(obj: Object, strategy: Strategy) -> Object:
    """The autoscaling/v1 Scale of an object, read where its strategy says (for a custom
    kind: its CRD's scale paths; absent replicas read as 0, as apiextensions)."""
    meta = obj["metadata"]
    spec_replicas = json_path(obj, strategy.scale_spec_path)
    status_replicas = json_path(obj, strategy.scale_status_path)
    if strategy.scale_selector_path:
        selector_text = str(json_path(obj, strategy.scale_selector_path) or "")
    else:
        selector = (obj.get("spec") or {}).get("selector")
        try:
            selector_text = LabelSelector.from_dict(selector).to_text() if selector else ""
        except ValueError:
            selector_text = ""
    default_replicas = 0 if strategy.resource.custom else 1
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "uid": meta.get("uid"), "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": default_replicas if spec_replicas is None else spec_replicas},
            "status": {"replicas": status_replicas or 0, "selector": selector_text}}


async def scale(request: web.Request, target: Target) -> web.Response:
    """GET/PUT/PATCH of an autoscaling/v1 Scale over spec.replicas. A write that pins no
    resourceVersion is retried when the parent moves under it (GuaranteedUpdate)."""
    strategy = strategy_for(target.resource)
    if request.method == "GET":
        return codec.json_response(to_scale(await _parent(request, target), strategy))
    who = rest.writer_of(request, target, "UpdateOptions" if request.method == "PUT"
                         else "PatchOptions")
    if request.method == "PUT":
        put_body: Any = await codec.read_object(request)
    elif request.method == "PATCH":
        content_type = request.content_type
        if content_type not in rest.patch_types(target.resource):
            raise errors.unsupported_media_type(content_type,
                                                list(rest.patch_types(target.resource)))
        patch_body = codec.decode(await codec.read_body(request), content_type)
    else:
        raise errors.method_not_allowed()
    for _ in range(16):
        parent = await _parent(request, target)
        if request.method == "PUT":
            body = put_body
        else:
            from minikube_py.api.patch import apply_patch
            body = apply_patch(to_scale(parent, strategy), patch_body, content_type, None)
        replicas = (body.get("spec") or {}).get("replicas") if isinstance(body, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(target.resource, target.name or "", [errors.Cause(
                "spec.replicas",
                f"Invalid value: {replicas!r}: must be greater than or equal to 0")])
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion") \
            if request.method == "PUT" else None
        if wanted_rv and wanted_rv != parent["metadata"]["resourceVersion"]:
            raise errors.conflict(target.resource, target.name or "")
        new = copy.deepcopy(parent)
        set_path(new, strategy.scale_spec_path, replicas)
        parent_target = Target(target.resource, target.namespace, target.name, None)
        try:
            stored = await rest.write_update(request.app, parent_target, new, parent,
                                             dry_run=rest.dry_run(request), writer=who)
        except errors.StatusError as e:
            if e.code != 409 or e.reason != "Conflict" or wanted_rv:
                raise
            continue
        return codec.json_response(to_scale(stored, strategy))
    raise errors.conflict(target.resource, target.name or "", "too many concurrent updates")


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
    "status": status, "finalize": finalize, "binding": binding, "scale": scale,
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
