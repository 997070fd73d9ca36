"""NodeRestriction admission, as kube-apiserver's plugin: what a node's credential may
write beyond what the node authorizer already limits it to.

- Its Node: no `spec.podCIDR(s)` set or changed (node IPAM in the controller-manager
  owns them), and no label under `node-restriction.kubernetes.io/` or in the
  `kubernetes.io`/`k8s.io` namespaces added, changed or removed, but those kubelets
  set themselves (hostname, os, arch, instance type, zone/region, and the
  `kubelet.kubernetes.io/` and `node.kubernetes.io/` prefixes).
- A pod's status: the pod's metadata stays as stored (a status write may change labels
  and annotations for other writers, not for a node), and `podIP`/`podIPs` are addresses
  inside the node's podCIDR (host-network pods: any address, they have the node's).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import NODES, PODS
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.state import NODE_GRAPH, OBJECTS
from minikube_py.apiserver.target import Target

KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
    "beta.kubernetes.io/os", "beta.kubernetes.io/arch"})
KUBELET_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def node_of(user: User | None) -> str | None:
    if user is None or "system:nodes" not in user.groups \
            or not user.name.startswith("system:node:"):
        return None
    return user.name.removeprefix("system:node:")


def restricted_label(key: str) -> bool:
    """What a node may not set on itself (kube-apiserver's getForbiddenLabels)."""
    domain = key.partition("/")[0] if "/" in key else ""
    if domain == "node-restriction.kubernetes.io" or domain.endswith(
            ".node-restriction.kubernetes.io"):
        return True
    kubernetes = any(domain == d or domain.endswith("." + d) for d in ("kubernetes.io",
                                                                        "k8s.io"))
    if not kubernetes or key in KUBELET_LABELS:
        return False
    return not any(domain == p or domain.endswith("." + p) for p in KUBELET_PREFIXES)


def _deny(target: Target, name: str, why: str) -> errors.StatusError:
    return errors.forbidden(target.resource, name, why)


def _node_write(target: Target, node: str, new: Object, old: Object | None) -> None:
    name = str(as_dict(new.get("metadata")).get("name", ""))
    spec, old_spec = as_dict(new.get("spec")), as_dict((old or {}).get("spec"))
    for key in ("podCIDR", "podCIDRs"):
        if spec.get(key) != old_spec.get(key):
            verb = "set" if old is None else "modify"
            raise _deny(target, name, f'node "{node}" is not allowed to {verb} {key}')
    labels = as_dict(as_dict(new.get("metadata")).get("labels"))
    old_labels = as_dict(as_dict((old or {}).get("metadata")).get("labels"))
    touched = sorted(k for k in set(labels) | set(old_labels)
                     if labels.get(k) != old_labels.get(k) and restricted_label(k))
    if touched:
        verb = "set the following labels" if old is None else "modify labels"
        raise _deny(target, name, f'node "{node}" is not allowed to {verb}: '
                                  f'{", ".join(touched)}')


async def _pod_status_write(request: web.Request, target: Target, node: str, new: Object,
                            old: Object) -> None:
    new["metadata"] = {**as_dict(old.get("metadata")),
                       "resourceVersion": as_dict(new.get("metadata")).get("resourceVersion")}
    if as_dict(new.get("spec")).get("hostNetwork"):
        return
    status = as_dict(new.get("status"))
    addresses = [status.get("podIP")] + [p.get("ip") for p in dicts(status.get("podIPs"))]
    addresses = [a for a in addresses if a]
    if not addresses:
        return
    # The node graph's podCIDR allows; a refusal is confirmed with the stored Node first.
    if _outside(addresses, request.app[NODE_GRAPH].pod_cidrs.get(node)) is None:
        return
    cidr = as_dict((await request.app[OBJECTS].get(NODES, None, node)).get("spec")).get(
        "podCIDR")
    address = _outside(addresses, cidr)
    if address is not None:
        raise _deny(target, str(old["metadata"].get("name", "")),
                    f'node "{node}" may only report pod addresses inside its podCIDR '
                    f'{cidr}: {address}')


def _outside(addresses: list[object], cidr: object) -> object | None:
    """The first address not inside `cidr` (all of them when there is none)."""
    for address in addresses:
        try:
            inside = cidr is not None and ipaddress.ip_address(str(address)) in \
                ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            inside = False
        if not inside:
            return address
    return None


async def admit(request: web.Request, target: Target, new: Object, old: Object | None
                ) -> None:
    """403 (or, for pod metadata, the stored values) for what a node may not write."""
    node = node_of(request.get(USER))
    if node is None:
        return
    if target.resource is NODES:  # the Node and nodes/status alike
        _node_write(target, node, new, old)
    elif target.resource is PODS and target.subresource == "status" and old is not None:
        await _pod_status_write(request, target, node, new, old)


def applies(target: Target, user: User | None) -> bool:
    return node_of(user) is not None and target.resource in (NODES, PODS)
