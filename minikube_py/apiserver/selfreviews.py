"""`kubectl auth whoami` and `kubectl auth can-i [--list]`: SelfSubjectReview (who the
caller is), SelfSubjectAccessReview (whether the caller may do something) and
SelfSubjectRulesReview (all the caller may do in a namespace), answered from the same
authenticator and authorizers every request goes through. None is stored; all are
create-only, as in Kubernetes, and reached by their paths (kubectl's typed clients post to
them without discovering them first). Any authenticated user may ask about itself
(system:basic-user)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import ALL, Resource
from minikube_py.apiserver import codec
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.authz import MASTERS, permits, permits_path
from minikube_py.apiserver.state import RBAC
from minikube_py.apiserver.target import Target

WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
CAN_I_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
RULES_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
AUTHORIZATION = "authorization.k8s.io/v1"
ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
                          "selfsubjectaccessreviews", False)
RULES_REVIEWS = Resource("authorization.k8s.io", "v1", "SelfSubjectRulesReview",
                         "selfsubjectrulesreviews", False)


async def whoami(request: web.Request) -> web.Response:
    user: User = request[USER]
    return codec.json_response({
        "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}}}, 201)


def _target(attrs: dict[str, Any], review: Resource) -> tuple[str, Target]:
    """(verb, what) of spec.resourceAttributes; a resource we do not serve is still a
    resource: an unrestricted user may do anything to it, a restricted one nothing."""
    causes = [errors.Cause(f"spec.resourceAttributes.{k}", "Invalid value: must be a string")
              for k in ("namespace", "verb", "group", "version", "resource", "subresource",
                        "name") if not isinstance(attrs.get(k, ""), str)]
    if not attrs.get("verb"):
        causes.append(errors.Cause("spec.resourceAttributes.verb", "Required value",
                                   "FieldValueRequired"))
    if causes:
        raise errors.invalid(review, "", causes)
    group, version, plural = (attrs.get(k, "") for k in ("group", "version", "resource"))
    resource = next((r for r in ALL if (r.group, r.plural) == (group, plural)
                     and version in ("", r.version)), None) \
        or Resource(group, version or "v1", "", plural, bool(attrs.get("namespace")))
    return attrs["verb"], Target(resource, attrs.get("namespace") or None,
                                 attrs.get("name") or None, attrs.get("subresource") or None)


def review_spec(body: dict[str, Any], review: Resource) -> dict[str, Any]:
    """The spec of an access review, which must ask about a resource or a path."""
    spec = body.get("spec")
    if not isinstance(spec, dict) or not (
            isinstance(spec.get("resourceAttributes"), dict)
            or isinstance(spec.get("nonResourceAttributes"), dict)):
        raise errors.invalid(review, "", [errors.Cause(
            "spec", "Invalid value: exactly one of resourceAttributes or "
            "nonResourceAttributes must be specified")])
    return spec


async def access_review(request: web.Request, user: User, spec: dict[str, Any],
                        review: Resource) -> web.Response:
    """Decide `spec` for `user`; the answer echoes the spec with a status, 201."""
    if isinstance(spec.get("resourceAttributes"), dict):
        verb, target = _target(spec["resourceAttributes"], review)
        allowed = await permits(request, user, verb, target)
    else:
        attrs = spec["nonResourceAttributes"]
        verb, path = attrs.get("verb"), attrs.get("path")
        allowed = isinstance(verb, str) and isinstance(path, str) \
            and permits_path(request, user, verb, path)
    return codec.json_response({
        "kind": review.kind, "apiVersion": AUTHORIZATION,
        "metadata": {"creationTimestamp": None}, "spec": spec,
        "status": {"allowed": allowed}}, 201)  # RBAC gives no reason for "no" either


async def can_i(request: web.Request) -> web.Response:
    body = await codec.read_object(request)
    return await access_review(request, request[USER], review_spec(body, ACCESS_REVIEWS),
                               ACCESS_REVIEWS)


async def rules_review(request: web.Request) -> web.Response:
    """`kubectl auth can-i --list`: the RBAC rules the caller holds in spec.namespace. The
    node and bootstrap authorizers cannot list theirs: incomplete."""
    body = await codec.read_object(request)
    spec = body.get("spec")
    namespace = spec.get("namespace") if isinstance(spec, dict) else None
    if not isinstance(namespace, str) or not namespace:
        raise errors.bad_request("no namespace on request")
    user: User = request[USER]
    resource_rules, url_rules = [], []
    for rule in request.app[RBAC].rules_for(user, namespace):
        entry = rule.to_json()
        if entry.pop("nonResourceURLs", None):
            url_rules.append({"verbs": entry["verbs"], "nonResourceURLs": list(rule.urls)})
        else:
            resource_rules.append(entry)
    incomplete = MASTERS not in user.groups and any(
        g in user.groups for g in ("system:nodes", "system:bootstrappers"))
    return codec.json_response({
        "kind": RULES_REVIEWS.kind, "apiVersion": AUTHORIZATION,
        "metadata": {"creationTimestamp": None}, "spec": {"namespace": namespace},
        "status": {"resourceRules": resource_rules, "nonResourceRules": url_rules,
                   "incomplete": incomplete}}, 201)
