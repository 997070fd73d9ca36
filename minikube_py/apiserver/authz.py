"""Authorization: who may do what, as kube-apiserver's `--authorization-mode=Node,RBAC`.

In order, the first that allows decides (none: 403):
- system:masters: everything (kube-apiserver's privileged group).
- Nodes (system:node:<n>, the node authorizer): read the objects a kubelet and proxy
  need, but of Secrets only GET those a pod bound to them uses (by reference, or the token
  of its service account), of ConfigMaps, claims and service accounts only GET those
  their pods use; volumes (the local-path cleaner watches them); tokens only for the
  service accounts of their pods, bound to such a pod (tokenrequest.py); write their own
  Node and Lease; update pod status and delete pods bound to them; create/patch events;
  create TokenReviews and SubjectAccessReviews (a kubelet's webhook authentication and
  authorization).
- Bootstrappers (system:bootstrappers): create their node-credentials Secret, get the
  sealed kube-system/kubeadm-certs (a control-plane join), nothing else.
- Anonymous: GET kube-public/configmaps/cluster-info only (kubeadm's discovery).
- RBAC (rbac_index): the Roles and ClusterRoles bound to the user or its groups, for
  resource requests and non-resource paths (discovery, /metrics) alike.
Anything else is a 403 Status naming the user, verb and resource or path.
`--authorization-mode=AlwaysAllow` skips all of it (a benchmark's baseline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.lease import LB_LEASE_NAMESPACE, is_lb_lease
from minikube_py.api.resources import (
    CONFIGMAPS,
    EVENTS,
    LEASES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    SECRETS,
    SERVICEACCOUNTS,
)
from minikube_py.api.secret import (
    NODE_CREDENTIALS_TYPE,
    SERVICE_ACCOUNT_NAME_ANNOTATION,
    SERVICE_ACCOUNT_TOKEN,
    UPLOADED_CERTS,
    data_field,
)
from minikube_py.apiserver.authn import ANONYMOUS, USER, User
from minikube_py.apiserver.node_graph import claim_refs, configmap_refs, secret_refs
from minikube_py.apiserver.objects import decode_item
from minikube_py.apiserver.rbac_rules import Attributes
from minikube_py.apiserver.state import NODE_GRAPH, OBJECTS, RBAC, SETTINGS
from minikube_py.apiserver.target import Target

NODE_READABLE = frozenset({"pods", "services", "endpoints", "nodes", "namespaces",
                           "persistentvolumes", "networkpolicies"})
READ_VERBS = frozenset({"get", "list", "watch"})
# (group, resource) a kubelet creates to authenticate and authorize its API's callers.
REVIEWS = frozenset({("authentication.k8s.io", "tokenreviews"),
                     ("authorization.k8s.io", "subjectaccessreviews")})
MASTERS = "system:masters"


def verb_of(request: web.Request, target: Target) -> str:
    """Kubernetes' request verb (get/list/watch/create/update/patch/delete/...)."""
    method = request.method
    if method == "GET":
        watching = request.query.get("watch", "") not in ("", "0", "false", "False")
        if watching:
            return "watch"
        return "get" if target.name else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _deny(user: User, verb: str, target: Target) -> errors.StatusError:
    resource = target.resource.plural + (f"/{target.subresource}" if target.subresource else "")
    scope = f'in the namespace "{target.namespace}"' if target.namespace else \
        "at the cluster scope"
    why = (f'User "{user.name}" cannot {verb} resource "{resource}" in API group '
           f'"{target.resource.group}" {scope}')
    return errors.forbidden(target.resource, target.name or "", why)


# Each check below allows from the node graph (memory) and reads etcd only before a
# refusal: the graph may not have seen a pod bound a moment ago (node_graph.py).


async def _bound_here(request: web.Request, target: Target, node: str) -> bool:
    if request.app[NODE_GRAPH].bound(target.namespace or "", target.name or "", node):
        return True
    try:
        pod = await request.app[OBJECTS].get(PODS, target.namespace, target.name or "")
    except errors.StatusError:
        return True  # let the handler answer 404 itself
    return (pod.get("spec") or {}).get("nodeName") == node


async def _secret_used_here(request: web.Request, target: Target, node: str) -> bool:
    """A pod bound to `node` uses this Secret, or it is the token of such a pod's
    service account (what the kubelet mounts)."""
    if request.app[NODE_GRAPH].uses_secret(target.namespace or "", node, target.name or ""):
        return True
    store = request.app[OBJECTS]
    items, _, _ = await store.list(PODS, target.namespace)
    specs = [spec for spec in ((decode_item(i).get("spec") or {}) for i in items)
             if spec.get("nodeName") == node]
    if any(target.name in secret_refs(spec) for spec in specs):
        return True
    try:
        secret = await store.get(SECRETS, target.namespace, target.name or "")
    except errors.StatusError:
        return False
    accounts = {spec.get("serviceAccountName") or "default" for spec in specs}
    return secret.get("type") == SERVICE_ACCOUNT_TOKEN and (
        (secret["metadata"].get("annotations") or {}).get(SERVICE_ACCOUNT_NAME_ANNOTATION)
        in accounts)


async def _referenced_here(request: web.Request, target: Target, node: str,
                           in_graph: Callable[[str, str, str], bool],
                           refs: Callable[[dict[str, Any]], set[str]]) -> bool:
    """A pod bound to `node` uses this claim or ConfigMap (the kubelet GETs a claim to
    find its volume, a ConfigMap for a volume or env)."""
    if in_graph(target.namespace or "", node, target.name or ""):
        return True
    items, _, _ = await request.app[OBJECTS].list(PODS, target.namespace)
    return any((spec := decode_item(i).get("spec") or {}).get("nodeName") == node
               and target.name in refs(spec) for i in items)


async def _account_used_here(request: web.Request, target: Target, node: str) -> bool:
    """A pod bound to `node` runs as this service account (tokenrequest checks the rest)."""
    if request.app[NODE_GRAPH].runs_as(target.namespace or "", node, target.name or ""):
        return True
    items, _, _ = await request.app[OBJECTS].list(PODS, target.namespace)
    return any((spec := decode_item(i).get("spec") or {}).get("nodeName") == node
               and spec.get("serviceAccountName") == target.name for i in items)


async def _node_allows(request: web.Request, target: Target, verb: str, node: str) -> bool:
    res, sub = target.resource, target.subresource
    if res is SECRETS:
        return verb == "get" and sub is None and await _secret_used_here(request, target, node)
    graph = request.app[NODE_GRAPH]
    if res is PERSISTENTVOLUMECLAIMS:
        return verb == "get" and sub is None and await _referenced_here(
            request, target, node, graph.uses_claim, claim_refs)
    if res is CONFIGMAPS:
        return verb == "get" and sub is None and await _referenced_here(
            request, target, node, graph.uses_configmap, configmap_refs)
    if res is SERVICEACCOUNTS and sub == "token":  # the body must bind it to one of its pods
        return verb == "create" and await _account_used_here(request, target, node)
    if res is SERVICEACCOUNTS:
        return verb == "get" and sub is None and await _account_used_here(request, target, node)
    if verb in READ_VERBS and res.plural in NODE_READABLE and sub in (None, "status"):
        return True
    if res is EVENTS:
        return verb in ("create", "patch", "update")
    if (res.group, res.plural) in REVIEWS:
        return verb == "create" and sub is None
    if res is NODES:  # its own object and status, never nodes/proxy (any node's kubelet)
        return (verb == "create" and sub is None) or (
            verb in ("get", "update", "patch") and target.name == node
            and sub in (None, "status"))
    if res is LEASES:
        if target.namespace == LB_LEASE_NAMESPACE:  # electing LoadBalancer announcers
            return verb == "create" or (verb in ("get", "update")
                                        and is_lb_lease(target.namespace, target.name))
        return target.namespace == "kube-node-lease" and (
            verb == "create" or (verb in ("get", "update", "patch") and target.name == node))
    if res is PODS and ((sub == "status" and verb in ("update", "patch"))
                        or (sub is None and verb == "delete")):
        return await _bound_here(request, target, node)
    return False


# Kubernetes 1.35's AuthorizePodWebsocketUpgradeCreatePermission: these over a WebSocket
# are a GET, and `get` alone would let a "read-only" role on pods/* run commands in pods.
_CONNECT_CREATE = frozenset({"exec", "attach", "portforward"})


async def authorize(request: web.Request, target: Target) -> None:
    """Raise 403 unless the request's user may do this."""
    user: User = request[USER]
    verb = verb_of(request, target)
    if not await permits(request, user, verb, target):
        raise _deny(user, verb, target)
    if verb == "get" and target.resource is PODS and target.subresource in _CONNECT_CREATE \
            and not await permits(request, user, "create", target):
        raise _deny(user, "create", target)


def attributes(verb: str, target: Target) -> Attributes:
    return Attributes(verb, target.namespace or "", target.resource.group,
                      target.resource.plural, target.subresource or "", target.name or "")


def always_allow(request: web.Request, user: User) -> bool:
    """system:masters, or authorization switched off: nothing is checked."""
    return MASTERS in user.groups or request.app[SETTINGS].authorization_mode == (
        "AlwaysAllow",)


async def _special_allows(request: web.Request, user: User, verb: str, target: Target
                          ) -> bool:
    """The authorizers before RBAC: node and bootstrap identities."""
    groups = set(user.groups)
    if user is ANONYMOUS:
        return verb == "get" and target.resource is CONFIGMAPS \
            and target.namespace == "kube-public" and target.name == "cluster-info"
    if "system:nodes" in groups and user.name.startswith("system:node:"):
        return await _node_allows(request, target, verb, user.name.removeprefix("system:node:"))
    if "system:bootstrappers" in groups:
        return target.resource is SECRETS and target.namespace == "kube-system" \
            and target.subresource is None and (
                verb == "create" or (verb == "get" and target.name == UPLOADED_CERTS))
    return False


async def permits(request: web.Request, user: User, verb: str, target: Target) -> bool:
    """Whether `user` may `verb` `target` (also what `kubectl auth can-i` is told)."""
    if always_allow(request, user) or await _special_allows(request, user, verb, target):
        return True
    return request.app[RBAC].allows(user, attributes(verb, target))


def permits_path(request: web.Request, user: User, verb: str, path: str) -> bool:
    """Whether `user` may `verb` (get, post, ...) a non-resource path such as /apis."""
    return always_allow(request, user) or request.app[RBAC].allows(
        user, Attributes(verb, path=path))


def authorize_path(request: web.Request) -> None:
    """Raise 403 unless the request's user may read this non-resource path."""
    user: User = request[USER]
    verb = request.method.lower()
    if not permits_path(request, user, verb, request.path):
        raise errors.StatusError(403, "Forbidden", f'forbidden: User "{user.name}" cannot '
                                 f'{verb} path "{request.path}"', {})


def admit_create(request: web.Request, target: Target, obj: dict[str, Any]) -> None:
    """Checks of a create that need the body: what nodes and bootstrappers may create."""
    user: User | None = request.get(USER)
    if user is None:
        return
    name = (obj.get("metadata") or {}).get("name")
    groups = set(user.groups)
    lb_namespace = target.resource is LEASES and target.namespace == LB_LEASE_NAMESPACE
    if "system:nodes" in groups and target.resource in (NODES, LEASES) and (
            not is_lb_lease(target.namespace, name) if lb_namespace
            else name != user.name.removeprefix("system:node:")):
        raise _deny(user, "create", Target(target.resource, target.namespace, name, None))
    if "system:bootstrappers" in groups and target.resource is SECRETS:
        node = data_field(obj, "node-name")
        if obj.get("type") != NODE_CREDENTIALS_TYPE or not node \
                or name != f"node-credentials-{node}":
            raise _deny(user, "create", Target(target.resource, target.namespace, name, None))
