"""POST serviceaccounts/<name>/token (`kubectl create token`): a token for a service
account that expires and names its audiences, as kube-apiserver's TokenRequest API issues
them, signed with D/pki/sa.key. Binding a token to a Pod or Secret is refused (422): nothing
here asks for it, and a token that outlived its object would be worse than none."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from minikube_py.api import errors, sa_token
from minikube_py.api.meta import format_time
from minikube_py.api.resources import Resource
from minikube_py.apiserver import codec
from minikube_py.apiserver.state import OBJECTS, SA_SIGNING_KEY
from minikube_py.apiserver.target import Target

TOKEN_REQUESTS = Resource("authentication.k8s.io", "v1", "TokenRequest", "tokenrequests", True)
MIN_SECONDS, DEFAULT_SECONDS, MAX_SECONDS = 600, 3600, 2**32


def _spec(body: dict[str, Any]) -> tuple[list[str], int, list[errors.Cause]]:
    """(audiences, lifetime, what is wrong) of a TokenRequest's spec."""
    spec = body.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        return [], 0, [errors.Cause("spec", "Invalid value: must be an object")]
    causes = []
    audiences = spec.get("audiences") or [sa_token.API_AUDIENCE]
    if not (isinstance(audiences, list) and all(isinstance(a, str) and a for a in audiences)):
        causes.append(errors.Cause("spec.audiences",
                                   "Invalid value: must be a list of non-empty strings"))
    lifetime = spec.get("expirationSeconds", DEFAULT_SECONDS)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        causes.append(errors.Cause("spec.expirationSeconds",
                                   f"Invalid value: {lifetime!r}: must be an integer"))
    elif lifetime < MIN_SECONDS:
        causes.append(errors.Cause("spec.expirationSeconds", f"Invalid value: {lifetime}: "
                                   "may not specify a duration less than 10 minutes"))
    elif lifetime > MAX_SECONDS:
        causes.append(errors.Cause("spec.expirationSeconds", f"Invalid value: {lifetime}: "
                                   "may not specify a duration larger than 2^32 seconds"))
    if spec.get("boundObjectRef"):
        causes.append(errors.Cause("spec.boundObjectRef", "Unsupported value: binding a token "
                                   "to an object is not supported", "FieldValueNotSupported"))
    return audiences, lifetime, causes


async def token(request: web.Request, target: Target) -> web.Response:
    if request.method != "POST":
        raise errors.method_not_allowed()
    assert target.name is not None
    audiences, lifetime, causes = _spec(await codec.read_object(request))
    if causes:
        raise errors.invalid(TOKEN_REQUESTS, target.name, causes)
    account = await request.app[OBJECTS].get(target.resource, target.namespace, target.name)
    now = int(time.time())
    claims = sa_token.bound_claims(target.namespace or "", target.name,
                                   account["metadata"]["uid"], audiences, now, lifetime)
    return codec.json_response({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": target.name, "namespace": target.namespace,
                     "creationTimestamp": None},
        "spec": {"audiences": audiences, "expirationSeconds": lifetime, "boundObjectRef": None},
        "status": {"token": sa_token.sign_token(request.app[SA_SIGNING_KEY], claims),
                   "expirationTimestamp": format_time(
                       datetime.fromtimestamp(now + lifetime, UTC))},
    }, 201)
