"""RBAC escalation prevention: nobody grants what they do not hold.

As kube-apiserver's rbac registry (pkg/registry/rbac/*/policybased): a Role or
ClusterRole may be written only with rules the writer already holds where the role
applies, unless the writer may `escalate` it; a binding only to a role whose rules the
writer holds in the binding's namespace, unless the writer may `bind` that role. An
aggregated ClusterRole's rules are the aggregation controller's, so defining or changing
an aggregationRule needs `escalate`. system:masters is never limited.
"""

from __future__ import annotations

import json

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import CLUSTERROLEBINDINGS, CLUSTERROLES, ROLEBINDINGS, ROLES
from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.authz import always_allow, permits
from minikube_py.apiserver.rbac_rules import Rule, compact_string, compile_rules, uncovered
from minikube_py.apiserver.state import RBAC
from minikube_py.apiserver.target import Target

RBAC_KINDS = (ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS)


def _not_held(user: User, missing: list[Rule]) -> str:
    groups = "[" + " ".join(json.dumps(g) for g in user.groups) + "]"
    lines = sorted({compact_string(rule) for rule in missing})
    return (f"user {json.dumps(user.name)} (groups={groups}) is attempting to grant RBAC "
            "permissions not currently held:\n" + "\n".join(lines))


async def check(request: web.Request, target: Target, new: Object, old: Object | None) -> None:
    """403 if writing `new` (over `old`) would grant the request's user more than it has."""
    resource = target.resource
    user: User | None = request.get(USER)
    if resource not in RBAC_KINDS or user is None or always_allow(request, user):
        return
    meta = as_dict(new.get("metadata"))
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "")
    index = request.app[RBAC]
    if resource in (ROLES, CLUSTERROLES):
        may_escalate = await permits(request, user, "escalate",
                                     Target(resource, namespace or None, name, None))
        if resource is CLUSTERROLES and (new.get("aggregationRule")
                                         or (old or {}).get("aggregationRule")):
            if not may_escalate:
                raise errors.forbidden(resource, name, "must have cluster-admin privileges "
                                       "to use the aggregationRule")
            return
        if may_escalate:
            return
        wanted = compile_rules(new.get("rules"))
    else:
        ref = as_dict(new.get("roleRef"))
        kind, role = str(ref.get("kind", "")), str(ref.get("name", ""))
        role_resource = CLUSTERROLES if kind == "ClusterRole" else ROLES
        if await permits(request, user, "bind",
                         Target(role_resource, namespace or None, role, None)):
            return
        found = index.role_rules(kind, role, namespace)
        if found is None:
            raise errors.forbidden(resource, name, errors.not_found(role_resource, role).message)
        wanted = found
    missing = uncovered(index.rules_for(user, namespace), wanted)
    if missing:
        raise errors.forbidden(resource, name, _not_held(user, missing))
