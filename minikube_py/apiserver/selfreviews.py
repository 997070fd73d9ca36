"""`kubectl auth whoami` and `kubectl auth can-i`: SelfSubjectReview (who the caller is)
and SelfSubjectAccessReview (whether the caller may do something), answered from the same
authenticator and authorizer every request goes through. Neither is stored; both are
create-only, as in Kubernetes, and reached by their paths (kubectl's typed clients post to
them without discovering them first)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import ALL, Resource
from minikube_py.apiserver import codec
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.authz import permits
from minikube_py.apiserver.target import Target

WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
CAN_I_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
                          "selfsubjectaccessreviews", False)


async def whoami(request: web.Request) -> web.Response:
    user: User = request[USER]
    return codec.json_response({
        "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}}}, 201)


def _target(attrs: dict[str, Any]) -> tuple[str, Target]:
    """(verb, what) of spec.resourceAttributes; a resource we do not serve is still a
    resource: an unrestricted user may do anything to it, a restricted one nothing."""
    causes = [errors.Cause(f"spec.resourceAttributes.{k}", "Invalid value: must be a string")
              for k in ("namespace", "verb", "group", "version", "resource", "subresource",
                        "name") if not isinstance(attrs.get(k, ""), str)]
    if not attrs.get("verb"):
        causes.append(errors.Cause("spec.resourceAttributes.verb", "Required value",
                                   "FieldValueRequired"))
    if causes:
        raise errors.invalid(ACCESS_REVIEWS, "", causes)
    group, version, plural = (attrs.get(k, "") for k in ("group", "version", "resource"))
    resource = next((r for r in ALL if (r.group, r.plural) == (group, plural)
                     and version in ("", r.version)), None) \
        or Resource(group, version or "v1", "", plural, bool(attrs.get("namespace")))
    return attrs["verb"], Target(resource, attrs.get("namespace") or None,
                                 attrs.get("name") or None, attrs.get("subresource") or None)


async def can_i(request: web.Request) -> web.Response:
    body = await codec.read_object(request)
    spec = body.get("spec")
    if not isinstance(spec, dict) or not (
            isinstance(spec.get("resourceAttributes"), dict)
            or isinstance(spec.get("nonResourceAttributes"), dict)):
        raise errors.invalid(ACCESS_REVIEWS, "", [errors.Cause(
            "spec", "Invalid value: exactly one of resourceAttributes or "
            "nonResourceAttributes must be specified")])
    if isinstance(spec.get("resourceAttributes"), dict):
        verb, target = _target(spec["resourceAttributes"])
        allowed = await permits(request, request[USER], verb, target)
    else:
        allowed = True  # every authenticated user may read discovery, health and version
    return codec.json_response({
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None}, "spec": spec,
        "status": {"allowed": allowed, **({} if allowed else {
            "reason": "not allowed by the node, bootstrap or kubelet-client authorizer"})}},
        201)
