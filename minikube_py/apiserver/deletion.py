"""DELETE and DELETECOLLECTION with Kubernetes' graceful and finalizer semantics.

- A pod bound to a node and deleted with a grace period > 0 only gets
  deletionTimestamp + deletionGracePeriodSeconds: its kubelet stops the
  containers and finishes the delete with grace 0.
- An object with finalizers (after propagationPolicy added its own:
  Foreground -> foregroundDeletion, Orphan -> orphan) only gets a
  deletionTimestamp; whoever owns the finalizer removes it, and the update that
  removes the last one deletes the object (rest.write_update).
- A namespace becomes Terminating; the namespace controller empties it and
  clears spec.finalizers through /finalize.
Everything else is removed at once.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.meta import format_time
from minikube_py.api.resources import NAMESPACES, PODS, SERVICEACCOUNTS, SERVICES, Resource
from minikube_py.api.types import Object
from minikube_py.apiserver import codec, services, webhook_admission
from minikube_py.apiserver.listing import Filter, list_objects
from minikube_py.apiserver.rest import dry_run, respond
from minikube_py.apiserver.state import ALLOCATORS, NAMESPACE_LIFECYCLE, OBJECTS
from minikube_py.apiserver.target import Target

_POLICY_FINALIZER = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}
_DEFAULT_GRACE = 30
# Kinds whose immediate delete answers with the object (as kube-apiserver); others a Status.
_RETURNS_OBJECT = (PODS, SERVICES, SERVICEACCOUNTS)


async def delete_options(request: web.Request) -> dict[str, Any]:
    """DeleteOptions from the body (if any) and the query (query wins, as Kubernetes)."""
    options: dict[str, Any] = {}
    raw = await codec.read_body(request)
    if raw.strip():
        value = codec.decode(raw, request.content_type)
        if value is not None:
            if not isinstance(value, dict):
                raise errors.bad_request("DeleteOptions must be a JSON object")
            options = value
    grace = codec.query_int(request, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    if "propagationPolicy" in request.query:
        options["propagationPolicy"] = request.query["propagationPolicy"]
    if codec.go_bool(request.query.get("orphanDependents"), "orphanDependents"):
        options.setdefault("propagationPolicy", "Orphan")
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.bad_request("gracePeriodSeconds must be an integer")
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
        raise errors.bad_request(f'propagationPolicy "{policy}" is invalid: must be one of '
                                 "Foreground, Background, Orphan")
    return options


def _grace(resource: Resource, obj: Object, options: dict[str, Any]) -> int:
    """Seconds the object may take to go; 0 = delete now."""
    if resource is not PODS:
        return 0
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", _DEFAULT_GRACE)
    return max(int(grace), 0)


def _check_preconditions(target: Target, obj: Object, options: dict[str, Any]) -> int:
    pre = options.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise errors.bad_request("preconditions must be an object")
    meta, name = obj["metadata"], obj["metadata"]["name"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise errors.conflict(target.resource, name, f"Precondition failed: UID in precondition: "
                              f"{pre['uid']}, UID in object meta: {meta.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        raise errors.conflict(target.resource, name, "Precondition failed: ResourceVersion in "
                              f"precondition: {pre['resourceVersion']}, ResourceVersion in "
                              f"object meta: {meta.get('resourceVersion')}")
    return int(meta["resourceVersion"])


async def delete_object(app: web.Application, target: Target, obj: Object,
                        options: dict[str, Any]) -> tuple[Object, bool]:
    """Delete or mark `obj`; returns (object, whether it is gone)."""
    resource, store = target.resource, app[OBJECTS]
    expected = _check_preconditions(target, obj, options)
    new = copy.deepcopy(obj)
    meta = new["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    policy = options.get("propagationPolicy")
    if policy in _POLICY_FINALIZER and _POLICY_FINALIZER[policy] not in finalizers \
            and not meta.get("deletionTimestamp"):
        finalizers.append(_POLICY_FINALIZER[policy])
    grace = _grace(resource, obj, options)
    if resource is NAMESPACES and (new.get("spec") or {}).get("finalizers"):
        new.setdefault("status", {})["phase"] = "Terminating"
    elif not finalizers and grace == 0:
        gone = await store.delete(resource, obj, expected)
        if resource is SERVICES:
            await services.release(app[ALLOCATORS], obj)
        return gone, True
    now = datetime.now(UTC)
    # Already going: a shorter grace period may still shorten it (never lengthen).
    if meta.get("deletionTimestamp") and grace >= int(meta.get("deletionGracePeriodSeconds")
                                                     or 0):
        return obj, False
    meta["deletionTimestamp"] = format_time(now + timedelta(seconds=grace))
    meta["deletionGracePeriodSeconds"] = grace
    if finalizers:
        meta["finalizers"] = finalizers
    marked = await store.update(resource, new, expected)
    if resource is NAMESPACES:
        app[NAMESPACE_LIFECYCLE].saw(marked)  # terminating from now on
    return marked, False


async def delete_current(app: web.Application, target: Target, obj: Object,
                          options: dict[str, Any]) -> tuple[Object, bool]:
    """delete_object, re-reading and retrying when the object changed underneath (a status
    write racing the delete) unless the client pinned a version with preconditions: a
    plain DELETE is not a compare-and-swap for the caller, as in Kubernetes. Like
    kube-apiserver's conditionalDelete it retries until it wins (each round is a fresh read
    and one compare-and-delete; the request's timeout bounds it): under steady writers a
    fixed number of tries was lost and the DELETE answered 409."""
    pinned = bool(options.get("preconditions"))
    while True:
        try:
            return await delete_object(app, target, obj, options)
        except errors.StatusError as e:
            if e.code != 409 or e.reason != "Conflict" or pinned:
                raise
        assert target.name is not None
        obj = await app[OBJECTS].get(target.resource, target.namespace, target.name)


def _success_status(target: Target, obj: Object) -> dict[str, Any]:
    details: dict[str, Any] = {"name": obj["metadata"]["name"], "kind": target.resource.plural,
                               "uid": obj["metadata"].get("uid", "")}
    if target.resource.group:
        details["group"] = target.resource.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


async def _admit(request: web.Request, target: Target, obj: Object,
                 options: dict[str, Any], dry: bool) -> None:
    """The admission webhooks a DELETE reaches see the object as oldObject (a mutating
    one's patch has nothing to patch)."""
    webhooks = webhook_admission.for_request(request, target, "DELETE", dry_run=dry,
                                             options=options)
    if webhooks is not None:
        await webhooks.mutate(None, obj)
        await webhooks.validate(None, obj)


async def delete(request: web.Request, target: Target) -> web.Response:
    assert target.name is not None
    options = await delete_options(request)
    obj = await request.app[OBJECTS].get(target.resource, target.namespace, target.name)
    dry = dry_run(request)
    await _admit(request, target, obj, options, dry)
    if dry:
        _check_preconditions(target, obj, options)
        return respond(request, target.resource, obj)
    result, gone = await delete_current(request.app, target, obj, options)
    if not gone or target.resource in _RETURNS_OBJECT:
        return respond(request, target.resource, result)
    return codec.json_response(_success_status(target, result))


async def delete_collection(request: web.Request, target: Target) -> web.Response:
    """Delete every object the selectors match in the scope (best effort per object)."""
    options = await delete_options(request)
    flt = Filter.from_request(request, target.resource)
    objs, revision, _ = await list_objects(request.app, target.resource, target.namespace, flt)
    deleted = []
    for obj in objs:
        one = Target(target.resource, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                     None)
        try:
            await _admit(request, one, obj, options, False)
            result, _gone = await delete_current(request.app, one, obj, options)
        except errors.StatusError as e:
            if e.code in (404, 409):
                continue
            raise
        deleted.append(result)
    return codec.json_response({"kind": target.resource.list_kind,
                                "apiVersion": target.resource.api_version,
                                "metadata": {"resourceVersion": str(revision)},
                                "items": deleted})
