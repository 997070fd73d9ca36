"""POST serviceaccounts/<name>/token (`kubectl create token`, and the kubelet for each
pod's projected token): a token for a service account that expires and names its
audiences, as kube-apiserver's TokenRequest API issues them, signed with D/pki/sa.key.
A token may be bound to a Pod (running as that account): it then dies with the pod, and a
node may ask only for tokens bound to pods on itself (NodeRestriction's rule). Binding to
a Secret is refused (422). The account and the pod come from the credential index
(credential_index.py), read from etcd only when it does not hold them (yet) as asked."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from minikube_py.api import errors, sa_token
from minikube_py.api.meta import format_time
from minikube_py.api.resources import PODS, Resource
from minikube_py.apiserver import codec
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.node_graph import PodUses
from minikube_py.apiserver.state import CREDENTIALS, SA_SIGNING_KEY
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
    ref = spec.get("boundObjectRef")
    if ref and not (isinstance(ref, dict) and ref.get("kind") == "Pod"
                    and ref.get("apiVersion", "v1") == "v1"
                    and isinstance(ref.get("name"), str) and ref["name"]
                    and isinstance(ref.get("uid", ""), str)):
        causes.append(errors.Cause("spec.boundObjectRef", "Unsupported value: a token may be "
                                   "bound to a Pod (apiVersion v1, with a name) only",
                                   "FieldValueNotSupported"))
    return audiences, lifetime, causes


async def _bound_pod(request: web.Request, target: Target, ref: dict[str, Any]) -> PodUses:
    """The pod a token is to be bound to: running as this account, and for a node's
    request, on that node."""
    pod = await request.app[CREDENTIALS].pod(target.namespace or "", ref["name"],
                                             uid=ref.get("uid") or None)
    if pod is None:
        raise errors.not_found(PODS, ref["name"])
    if ref.get("uid") and ref["uid"] != pod.uid:
        raise errors.conflict(PODS, ref["name"], f"the UID in the bound object reference "
                              f"({ref['uid']}) does not match the UID in record ({pod.uid})")
    if pod.account != target.name:
        raise errors.bad_request(f'cannot bind token for serviceaccount "{target.name}" to '
                                 "pod running with different serviceaccount name.")
    user: User = request[USER]
    node = user.name.removeprefix("system:node:")
    if "system:nodes" in user.groups and pod.node != node:
        raise errors.forbidden(TOKEN_REQUESTS, target.name or "", f'node "{node}" may only '
                               "request tokens bound to pods scheduled on it")
    return pod


async def token(request: web.Request, target: Target) -> web.Response:
    if request.method != "POST":
        raise errors.method_not_allowed()
    assert target.name is not None
    body = await codec.read_object(request)
    audiences, lifetime, causes = _spec(body)
    if causes:
        raise errors.invalid(TOKEN_REQUESTS, target.name, causes)
    account = await request.app[CREDENTIALS].account(target.namespace or "", target.name)
    if account is None:
        raise errors.not_found(target.resource, target.name)
    ref = (body.get("spec") or {}).get("boundObjectRef")
    pod = None if not ref else (ref["name"], (await _bound_pod(request, target, ref)).uid)
    user: User = request[USER]
    if pod is None and "system:nodes" in user.groups:
        raise errors.forbidden(TOKEN_REQUESTS, target.name, "a node may only request tokens "
                               "bound to pods scheduled on it")
    now = int(time.time())
    claims = sa_token.bound_claims(target.namespace or "", target.name,
                                   account.uid, audiences, now, lifetime,
                                   pod=pod)
    return codec.json_response({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": target.name, "namespace": target.namespace,
                     "creationTimestamp": None},
        "spec": {"audiences": audiences, "expirationSeconds": lifetime,
                 "boundObjectRef": None if pod is None else {
                     "kind": "Pod", "apiVersion": "v1", "name": pod[0], "uid": pod[1]}},
        "status": {"token": sa_token.sign_token(request.app[SA_SIGNING_KEY], claims),
                   "expirationTimestamp": format_time(
                       datetime.fromtimestamp(now + lifetime, UTC))},
    }, 201)
