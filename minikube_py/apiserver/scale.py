"""*/scale: the autoscaling/v1 Scale view of an object's replicas, as kube's ScaleREST.

Replicas are read and written where the parent's strategy says (a custom kind: its CRD's
scale paths). PUT, the patches and server-side apply all become one write of the parent,
compare-and-swap, retried when the parent moves under a write that pins no
resourceVersion (GuaranteedUpdate). An apply makes its manager (subresource "scale") own
the parent's replicas field, as kube-apiserver's scale handler maps it, so it conflicts
with the parent's other owners of that field like any apply.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.jsonpath import json_path, set_path
from minikube_py.api.patch import apply_patch
from minikube_py.api.registry import strategy_for
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object
from minikube_py.apiserver import codec, fieldmanager, rest
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target

SCALE_API_VERSION = "autoscaling/v1"


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
    return {"kind": "Scale", "apiVersion": SCALE_API_VERSION,
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "uid": meta.get("uid"), "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": default_replicas if spec_replicas is None else spec_replicas},
            "status": {"replicas": status_replicas or 0, "selector": selector_text}}


def _replicas(target: Target, scale: Any) -> int:
    replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(target.resource, target.name or "", [errors.Cause(
            "spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0")])
    return replicas


class _Change:
    """One write of a Scale: what the request said, turned into the parent's next state."""

    def __init__(self, request: web.Request, target: Target, body: Any) -> None:
        self.target, self.body = target, body
        self.strategy = strategy_for(target.resource)
        self.content_type = request.content_type if request.method == "PATCH" else None
        self.force = False
        if self.content_type == rest.APPLY_PATCH:
            self.who, self.force = rest.apply_options(request, target)
            rest.place(target, fieldmanager.check_config(body, SCALE_API_VERSION, "Scale"))
        else:
            self.who = rest.writer_of(request, target, "PatchOptions" if self.content_type
                                      else "UpdateOptions")

    @property
    def applied(self) -> bool:
        return self.content_type == rest.APPLY_PATCH

    def pinned(self) -> str | None:
        """The resourceVersion a PUT or an apply names (a patch's is its own business)."""
        if self.content_type not in (None, rest.APPLY_PATCH):
            return None
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        return meta.get("resourceVersion") or None if isinstance(meta, dict) else None

    def parent_after(self, parent: Object) -> Object | None:
        """The parent with the wanted replicas (managedFields of an apply included);
        None when an apply changes nothing."""
        if self.content_type in (None, rest.APPLY_PATCH):
            replicas = _replicas(self.target, self.body)
        else:
            replicas = _replicas(self.target, apply_patch(to_scale(parent, self.strategy),
                                                          self.body, self.content_type, None))
        if not self.applied:
            new = copy.deepcopy(parent)
            set_path(new, self.strategy.scale_spec_path, replicas)
            return new
        resource = self.target.resource
        config: Object = {"apiVersion": resource.api_version, "kind": resource.kind,
                          "metadata": {"name": self.target.name}}
        set_path(config, self.strategy.scale_spec_path, replicas)
        return fieldmanager.apply_config(resource, self.who, parent, config, force=self.force)


async def scale(request: web.Request, target: Target) -> web.Response:
    """GET, PUT and PATCH (the three patches and apply) of an autoscaling/v1 Scale."""
    assert target.name is not None
    strategy = strategy_for(target.resource)
    store = request.app[OBJECTS]
    if request.method == "GET":
        parent = await store.get(target.resource, target.namespace, target.name)
        return codec.json_response(to_scale(parent, strategy))
    if request.method == "PUT":
        change = _Change(request, target, await codec.read_object(request))
    elif request.method == "PATCH":
        accepted = rest.patch_types(target.resource)
        if request.content_type not in accepted:
            raise errors.unsupported_media_type(list(accepted))
        change = _Change(request, target, codec.decode(await codec.read_body(request),
                                                       request.content_type))
    else:
        raise errors.method_not_allowed()
    wanted_rv = change.pinned()
    parent_target = Target(target.resource, target.namespace, target.name, None)
    for _ in range(16):
        parent = await store.get(target.resource, target.namespace, target.name)
        if wanted_rv and wanted_rv != parent["metadata"]["resourceVersion"]:
            raise errors.conflict(target.resource, target.name)
        new = change.parent_after(parent)
        if new is None:
            return codec.json_response(to_scale(parent, strategy))
        try:
            stored = await rest.write_update(
                request.app, parent_target, new, parent, dry_run=rest.dry_run(request),
                writer=None if change.applied else change.who)
        except errors.StatusError as e:
            if e.code != 409 or e.reason != "Conflict" or wanted_rv:
                raise
            continue
        return codec.json_response(to_scale(stored, strategy))
    raise errors.conflict(target.resource, target.name, "too many concurrent updates")
