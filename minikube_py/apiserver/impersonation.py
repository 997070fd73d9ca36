"""User impersonation (`kubectl --as=<user> --as-group=<group>`), as kube-apiserver's
WithImpersonation filter: a request carrying Impersonate-User / Impersonate-Group is
served as that user, if the authenticated caller may `impersonate` it (users, groups, or
the service account itself). The impersonated user joins system:authenticated; a service
account without explicit groups gets its service-account groups.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import SERVICEACCOUNTS, Resource
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.authz import permits
from minikube_py.apiserver.target import Target

USER_HEADER = "Impersonate-User"
GROUP_HEADER = "Impersonate-Group"
USERS = Resource("", "v1", "User", "users", False)
GROUPS = Resource("", "v1", "Group", "groups", False)
SA_PREFIX = "system:serviceaccount:"


def _account(name: str) -> tuple[str, str] | None:
    namespace, _, account = name.removeprefix(SA_PREFIX).partition(":")
    return (namespace, account) if name.startswith(SA_PREFIX) and namespace and account \
        else None


async def _may(request: web.Request, caller: User, target: Target, what: str) -> None:
    if not await permits(request, caller, "impersonate", target):
        raise errors.StatusError(403, "Forbidden", f'{target.resource.plural} "{what}" is '
                                 f'forbidden: User "{caller.name}" cannot impersonate resource '
                                 f'"{target.resource.plural}" in API group "" at the cluster '
                                 'scope', {"name": what, "kind": target.resource.plural})


@web.middleware
async def impersonate(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    name = request.headers.get(USER_HEADER)
    groups = request.headers.getall(GROUP_HEADER, [])
    caller: User | None = request.get(USER)
    if caller is None or (name is None and not groups):
        return await handler(request)
    if not name:
        raise errors.bad_request("requested impersonation of groups without a user")
    account = _account(name)
    if account is not None:
        await _may(request, caller, Target(SERVICEACCOUNTS, account[0], account[1], None), name)
    else:
        await _may(request, caller, Target(USERS, None, name, None), name)
    for group in groups:
        await _may(request, caller, Target(GROUPS, None, group, None), group)
    if account is not None and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    if name != "system:anonymous" and "system:authenticated" not in groups:
        groups.append("system:authenticated")
    request[USER] = User(name, tuple(groups))
    return await handler(request)
