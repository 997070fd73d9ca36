"""Admission webhooks on a write, as kube-apiserver's MutatingAdmissionWebhook and
ValidatingAdmissionWebhook plugins run them.

Mutating webhooks run one after another in index order (configuration name, then place),
after the built-in mutations and before validation; each sees the object as the previous
one left it and may answer a JSONPatch. A webhook with reinvocationPolicy IfNeeded runs
once more if a later webhook changed the object after it ran. Validating webhooks run
after validation and the built-in checks, concurrently, and the first refusal (in index
order) is the answer. A webhook that cannot be called fails the request under
failurePolicy Fail (500, "failed calling webhook ...") and is skipped under Ignore.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.patch import json_patch
from minikube_py.api.resources import NAMESPACES, Resource, served
from minikube_py.api.shape import as_dict
from minikube_py.api.strategic import PatchError
from minikube_py.api.types import Object
from minikube_py.api.webhookrules import EXEMPT, Webhook
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.state import OBJECTS, WEBHOOK_CLIENTS, WEBHOOKS
from minikube_py.apiserver.target import Target
from minikube_py.apiserver.warnings import add_warning
from minikube_py.apiserver.webhook_client import CallError

log = logging.getLogger(__name__)

REVIEW_VERSION = "admission.k8s.io/v1"
_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions",
                 "DELETE": "DeleteOptions", "CONNECT": "ConnectOptions"}


def _group_version(resource: Resource) -> dict[str, str]:
    return {"group": resource.group, "version": resource.version}


def _equivalents(resource: Resource) -> list[Resource]:
    """The other served versions of the same resource (a CRD's versions convert with
    strategy None): what matchPolicy Equivalent also matches."""
    if not resource.custom:
        return []
    return [r for r in served() if r.custom and r.group == resource.group
            and r.plural == resource.plural and r != resource]


def _as_version(obj: Object | None, resource: Resource) -> Object | None:
    if obj is None or obj.get("apiVersion") == resource.api_version:
        return obj
    return {**obj, "apiVersion": resource.api_version}


def _labels(obj: Object | None) -> dict[str, str]:
    labels = as_dict(as_dict((obj or {}).get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def call_failed(hook: Webhook, reason: str) -> errors.StatusError:
    """apierrors.NewInternalError(ErrCallingWebhook), as a Fail policy answers."""
    message = f'failed calling webhook "{hook.name}": {reason}'
    return errors.StatusError(500, "InternalError", f"Internal error occurred: {message}",
                              {"causes": [{"message": message}]})


def denied(hook: Webhook, status: Mapping[str, Any]) -> errors.StatusError:
    """webhookerrors.ToStatusErr: the webhook's Status, its message prefixed."""
    by = f'admission webhook "{hook.name}" denied the request'
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) and code >= 400 \
        else 400
    message, reason = str(status.get("message") or ""), str(status.get("reason") or "")
    text = f"{by}: {message}" if message else f"{by}: {reason}" if reason \
        else f"{by} without explanation"
    details = status.get("details") if isinstance(status.get("details"), dict) else None
    return errors.StatusError(code, reason, text, details)


def _response(answer: Object, uid: str) -> Object:
    """The AdmissionReview's response, checked as kube-apiserver checks it."""
    if answer.get("apiVersion") != REVIEW_VERSION or answer.get("kind") != "AdmissionReview":
        raise CallError(f"expected webhook response of {REVIEW_VERSION}, Kind=AdmissionReview, "
                        f"got {answer.get('apiVersion')}, Kind={answer.get('kind')}")
    response = answer.get("response")
    if not isinstance(response, dict):
        raise CallError("webhook response was absent")
    if response.get("uid") != uid:
        raise CallError(f'expected response.uid="{uid}", got "{response.get("uid")}"')
    return response


def _patched(hook: Webhook, obj: Object, response: Object) -> Object:
    """The object with the response's JSONPatch applied (the patch is base64 JSON)."""
    patch_type = response.get("patchType")
    if patch_type is not None and patch_type != "JSONPatch":
        raise CallError(f'unsupported patch type "{patch_type}"')
    try:
        operations = orjson.loads(base64.b64decode(response["patch"], validate=True))
        result = json_patch(obj, operations)
    except (binascii.Error, ValueError, TypeError, PatchError) as e:
        raise call_failed(hook, f"failed to apply the webhook's patch: {e}") from None
    if not isinstance(result, dict):
        raise call_failed(hook, "the webhook's patch did not produce an object")
    return result


@dataclass
class WebhookAdmission:
    """The webhooks one write reaches, and calling them with its attributes."""

    request: web.Request
    target: Target
    operation: str
    dry_run: bool
    options: dict[str, Any]
    mutating: list[tuple[Webhook, Resource]]
    validating: list[tuple[Webhook, Resource]]
    _namespace_labels: dict[str, str] | None = field(default=None, init=False)

    async def mutate(self, obj: Object | None, old: Object | None) -> Object | None:
        """Run the mutating webhooks; the object as they left it."""
        invoked: list[Webhook] = []
        again: list[tuple[Webhook, Resource]] = []
        for hook, resource in self.mutating:
            new = await self._mutate_one(hook, resource, obj, old)
            if new is not obj and new != obj:
                obj = new
                again += [(h, resource) for h in invoked if h is not hook
                          and (h, resource) not in again]
            if hook.reinvoke:
                invoked.append(hook)
        for hook, resource in sorted(again, key=lambda p: self.mutating.index(p)):
            obj = await self._mutate_one(hook, resource, obj, old)
        return obj

    async def _mutate_one(self, hook: Webhook, resource: Resource, obj: Object | None,
                          old: Object | None) -> Object | None:
        if not await self._selected(hook, obj, old):
            return obj
        response = await self._call(hook, resource, obj, old)
        if response is None or obj is None or not response.get("patch"):
            return obj
        patched = _patched(hook, _as_version(obj, resource) or {}, response)
        return _as_version(patched, self.target.resource)

    async def validate(self, obj: Object | None, old: Object | None) -> None:
        """Run the validating webhooks together; the first refusal in order wins."""
        selected = [(h, r) for h, r in self.validating if await self._selected(h, obj, old)]
        results = await asyncio.gather(*(self._call(h, r, obj, old) for h, r in selected),
                                       return_exceptions=True)
        for (hook, _), result in zip(selected, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            if result is not None and result.get("patch"):
                raise call_failed(hook, f'admission webhook "{hook.name}" attempted to '
                                        "modify the object, which is not supported for this "
                                        "operation")

    async def _selected(self, hook: Webhook, obj: Object | None, old: Object | None) -> bool:
        if not hook.selects_object([_labels(o) for o in (obj, old) if o is not None]):
            return False
        if hook.namespace_selector.is_everything:
            return True
        if self.target.resource is NAMESPACES:
            return any(hook.namespace_selector.matches(_labels(o)) for o in (obj, old) if o)
        if not self.target.resource.namespaced or not self.target.namespace:
            return True
        return hook.namespace_selector.matches(await self._labels_of_namespace())

    async def _labels_of_namespace(self) -> dict[str, str]:
        if self._namespace_labels is None:
            assert self.target.namespace is not None
            ns = await self.request.app[OBJECTS].get(NAMESPACES, None, self.target.namespace)
            self._namespace_labels = _labels(ns)
        return self._namespace_labels

    async def _call(self, hook: Webhook, resource: Resource, obj: Object | None,
                    old: Object | None) -> Object | None:
        """The webhook's allowed response; None if it failed and its policy is Ignore."""
        uid = str(uuid.uuid4())
        review = {"apiVersion": REVIEW_VERSION, "kind": "AdmissionReview",
                  "request": self._review_request(uid, resource, obj, old)}
        try:
            response = _response(await self.request.app[WEBHOOK_CLIENTS].post(hook, review),
                                 uid)
        except CallError as e:
            if hook.failure_policy == "Ignore":
                log.warning("webhook failed, failing open webhook=%s error=%s", hook.name, e)
                return None
            log.warning("webhook failed, failing closed webhook=%s error=%s", hook.name, e)
            raise call_failed(hook, str(e)) from None
        for warning in response.get("warnings") or ():
            if isinstance(warning, str) and warning:
                add_warning(self.request, warning)
        if response.get("allowed") is not True:
            log.info("webhook denied webhook=%s resource=%s operation=%s", hook.name,
                     self.target.resource.plural, self.operation)
            raise denied(hook, as_dict(response.get("status")))
        return response

    def _review_request(self, uid: str, resource: Resource, obj: Object | None,
                        old: Object | None) -> Object:
        requested = self.target.resource
        user: User | None = self.request.get(USER)
        name = str(as_dict((obj or old or {}).get("metadata")).get("name") or "") \
            or (self.target.name or "")
        body: Object = {
            "uid": uid,
            "kind": {**_group_version(resource), "kind": resource.kind},
            "resource": {**_group_version(resource), "resource": resource.plural},
            "requestKind": {**_group_version(requested), "kind": requested.kind},
            "requestResource": {**_group_version(requested), "resource": requested.plural},
        }
        if self.target.subresource:
            body["subResource"] = body["requestSubResource"] = self.target.subresource
        if name:
            body["name"] = name
        if self.target.namespace:
            body["namespace"] = self.target.namespace
        body["operation"] = self.operation
        body["userInfo"] = {"username": user.name if user else "",
                            "groups": list(user.groups) if user else []}
        if user and user.extra:
            body["userInfo"]["extra"] = {k: [v] for k, v in user.extra.items()}
        body["object"] = _as_version(obj, resource)
        body["oldObject"] = _as_version(old, resource)
        body["dryRun"] = self.dry_run
        body["options"] = {"kind": _OPTIONS_KIND[self.operation],
                           "apiVersion": "meta.k8s.io/v1", **self.options}
        return body


def _matching(hooks: tuple[Webhook, ...], operation: str, target: Target
              ) -> list[tuple[Webhook, Resource]]:
    """(webhook, the version its rules matched): the requested resource, or under
    matchPolicy Equivalent another version of it."""
    resource, sub = target.resource, target.subresource or ""
    namespace = target.name if resource is NAMESPACES else target.namespace
    found = []
    for hook in hooks:
        if hook.matching_rule(operation, resource, sub, namespace):
            found.append((hook, resource))
        elif hook.match_policy == "Equivalent":
            other = next((r for r in _equivalents(resource)
                          if hook.matching_rule(operation, r, sub, namespace)), None)
            if other is not None:
                found.append((hook, other))
    return found


def for_request(request: web.Request, target: Target, operation: str, *,
                dry_run: bool = False, options: dict[str, Any] | None = None
                ) -> WebhookAdmission | None:
    """The webhooks a write of `target` reaches; None (nothing to do) if none does."""
    index = request.app[WEBHOOKS]
    if not (index.mutating or index.validating) or target.resource in EXEMPT:
        return None
    mutating = _matching(index.mutating, operation, target)
    validating = _matching(index.validating, operation, target)
    if not (mutating or validating):
        return None
    return WebhookAdmission(request, target, operation, dry_run,
                            copy.deepcopy(options or {}), mutating, validating)
