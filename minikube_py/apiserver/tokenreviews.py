"""TokenReview (authentication.k8s.io/v1): who a bearer token is, asked by someone else.

What a kubelet started with `--authentication-token-webhook` asks before it serves a
request carrying a token: the token goes through the same authenticators as a request to
the api-server would (static, node, service-account, bootstrap), so the answer is exactly
who that token would be here. The caller needs `create tokenreviews` (nodes have it, as
kube-apiserver's Node authorizer gives it). Nothing is stored.
"""

from __future__ import annotations

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import Resource
from minikube_py.api.sa_token import API_AUDIENCE
from minikube_py.api.types import Object
from minikube_py.apiserver import codec
from minikube_py.apiserver.authn import AUTHENTICATORS, Authenticator, User
from minikube_py.apiserver.authz import authorize
from minikube_py.apiserver.target import Target

GROUP = "authentication.k8s.io"
TOKEN_REVIEWS = Resource(GROUP, "v1", "TokenReview", "tokenreviews", False)
PATH = f"/apis/{GROUP}/v1/tokenreviews"


async def who(request: web.Request, token: str) -> User | None:
    """The user `token` authenticates as here, or None."""
    asked = request.clone(headers={"Authorization": f"Bearer {token}"})
    authenticators: list[Authenticator] = request.app[AUTHENTICATORS]
    for authenticator in authenticators:
        user = await authenticator(asked)
        if user is not None:
            return user
    return None


def _user_info(user: User) -> Object:
    info: Object = {"username": user.name, "groups": list(user.groups)}
    if user.extra:
        info["extra"] = {k: [v] for k, v in user.extra.items()}
    return info


async def token_review(request: web.Request) -> web.Response:
    await authorize(request, Target(TOKEN_REVIEWS, None, None, None))
    body = await codec.read_object(request)
    spec: Object = body["spec"] if isinstance(body.get("spec"), dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.invalid(TOKEN_REVIEWS, "", [errors.Cause(
            "spec.token", "Required value", "FieldValueRequired")])
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.invalid(TOKEN_REVIEWS, "", [errors.Cause(
            "spec.audiences", "Invalid value: must be a list of strings")])
    user = await who(request, token)
    status: Object = {"authenticated": False, "user": {}}
    if user is not None and (not audiences or API_AUDIENCE in audiences):
        status = {"authenticated": True, "user": _user_info(user), "audiences":
                  audiences or [API_AUDIENCE]}
    elif user is not None:
        status["error"] = "token audiences do not intersect the requested audiences"
    return codec.json_response({
        "kind": "TokenReview", "apiVersion": f"{GROUP}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status}, 201)


def add_routes(app: web.Application) -> None:
    app.router.add_post(PATH, token_review)
