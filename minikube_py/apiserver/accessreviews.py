"""SubjectAccessReview and LocalSubjectAccessReview: whether *another* user may do
something, as a webhook-authorizing kubelet or an admission controller asks. The caller
needs `create` on the review itself (cluster-wide, or in the namespace for the local one);
the answer comes from the same authorizers as every request."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import Resource
from minikube_py.apiserver import codec
from minikube_py.apiserver.authn import User
from minikube_py.apiserver.authz import authorize
from minikube_py.apiserver.selfreviews import access_review, review_spec
from minikube_py.apiserver.target import Target

GROUP = "authorization.k8s.io"
SUBJECT_REVIEWS = Resource(GROUP, "v1", "SubjectAccessReview", "subjectaccessreviews", False)
LOCAL_REVIEWS = Resource(GROUP, "v1", "LocalSubjectAccessReview",
                         "localsubjectaccessreviews", True)
SUBJECT_PATH = f"/apis/{GROUP}/v1/subjectaccessreviews"
LOCAL_PATH = f"/apis/{GROUP}/v1/namespaces/{{namespace}}/localsubjectaccessreviews"


def _subject(spec: dict[str, Any], review: Resource) -> User:
    user, groups = spec.get("user", ""), spec.get("groups") or []
    causes = []
    if not isinstance(user, str):
        causes.append(errors.Cause("spec.user", "Invalid value: must be a string"))
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        causes.append(errors.Cause("spec.groups", "Invalid value: must be a list of strings"))
    if not causes and not user and not groups:
        causes.append(errors.Cause("spec.user", "Invalid value: \"\": at least one of user or "
                                   "group must be specified"))
    if causes:
        raise errors.invalid(review, "", causes)
    return User(user, tuple(groups))


async def subject_access_review(request: web.Request) -> web.Response:
    await authorize(request, Target(SUBJECT_REVIEWS, None, None, None))
    body = await codec.read_object(request)
    spec = review_spec(body, SUBJECT_REVIEWS)
    return await access_review(request, _subject(spec, SUBJECT_REVIEWS), spec,
                               SUBJECT_REVIEWS)


async def local_subject_access_review(request: web.Request) -> web.Response:
    namespace = request.match_info["namespace"]
    await authorize(request, Target(LOCAL_REVIEWS, namespace, None, None))
    body = await codec.read_object(request)
    spec = review_spec(body, LOCAL_REVIEWS)
    if isinstance(spec.get("nonResourceAttributes"), dict):
        raise errors.invalid(LOCAL_REVIEWS, "", [errors.Cause(
            "spec.nonResourceAttributes", "Invalid value: disallowed on this kind of request")])
    if spec["resourceAttributes"].get("namespace", "") != namespace:
        raise errors.bad_request(f"spec.resourceAttributes.namespace must match namespace: "
                                 f"{namespace}")
    return await access_review(request, _subject(spec, LOCAL_REVIEWS), spec, LOCAL_REVIEWS)


def add_routes(app: web.Application) -> None:
    app.router.add_post(SUBJECT_PATH, subject_access_review)
    app.router.add_post(LOCAL_PATH, local_subject_access_review)

