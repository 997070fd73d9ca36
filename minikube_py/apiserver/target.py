"""Parsing Kubernetes REST paths into what they address.

/api/v1/pods, /api/v1/namespaces/ns/pods/name/status,
/apis/apps/v1/namespaces/ns/deployments/name/scale ... become a `Target`:
one parser instead of a route per shape, and unknown resources are a 404
with Kubernetes' message.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.api import errors
from minikube_py.api.resources import NAMESPACES, Resource, lookup


@dataclass(frozen=True, slots=True)
class Target:
    """What one request addresses: a collection, an object or a subresource."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None
    proxy_path: str = ""
    """What follows `.../proxy/` (nodes/x/proxy/configz: "configz")."""

    @property
    def verb_scope(self) -> str:
        return "item" if self.name else "collection"


def _not_found(path: str) -> errors.StatusError:
    return errors.StatusError(404, "NotFound", "the server could not find the requested "
                              "resource", {"causes": [{"reason": "UnexpectedServerResponse",
                                                       "message": f"404 page not found: {path}"}]})


def parse(group: str, version: str, parts: list[str], path: str) -> Target:
    """`parts` are the segments after /api/v1 or /apis/<group>/<version>."""
    if not parts or any(not p for p in parts):
        raise _not_found(path)
    namespace: str | None = None
    if (parts[0] == "namespaces" and len(parts) >= 3
            and not (len(parts) == 3 and parts[2] in NAMESPACES.subresources)):
        namespace, parts = parts[1], parts[2:]
    resource = lookup(group, version, parts[0])
    if resource is None or (namespace is not None and not resource.namespaced):
        raise _not_found(path)
    proxied = len(parts) > 3 and parts[2] == "proxy"
    if len(parts) > 3 and not proxied:
        raise _not_found(path)
    name = parts[1] if len(parts) > 1 else None
    subresource = parts[2] if len(parts) > 2 else None
    if subresource is not None and subresource not in resource.subresources:
        raise _not_found(path)
    return Target(resource, namespace, name, subresource, "/".join(parts[3:]))
