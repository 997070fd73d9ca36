"""Discovery documents: /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}.

kubectl learns everything from these (resource names, kinds, verbs, short
names, the `all` category, which subresources exist and in which group/kind
they answer), so the entries mirror kube-apiserver's field for field. Pure
functions over the resource table; the routes only serialise them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection

from minikube_py.api.resources import Resource, served
from minikube_py.api.types import Object

# What each subresource is, as kube-apiserver advertises it: (group, version, kind, verbs);
# an empty group/version means "the parent's".
_SUBRESOURCES: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {
    "status": ("", "", None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "", "Binding", ("create",)),
    "log": ("", "", None, ("get",)),
    "exec": ("", "", "PodExecOptions", ("create", "get")),
    "attach": ("", "", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "", "PodPortForwardOptions", ("create", "get")),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "finalize": ("", "", None, ("update",)),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
}


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in served():
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return groups


def api_versions(server_address: str) -> Object:
    """/api: the core group's versions and where clients reach the server."""
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> Object:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> Object:
    """/apis: every named group we serve."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in _groups().items()]}


def api_group(group: str) -> Object | None:
    """/apis/{group}, or None for a group we do not serve (the route answers 404)."""
    versions = _groups().get(group)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def storage_version_hash(resource: Resource) -> str:
    """A stable 8-byte hash of group/version/kind, as kube-apiserver publishes."""
    digest = hashlib.sha256(f"{resource.group}/{resource.version}/{resource.kind}".encode())
    return base64.b64encode(digest.digest()[:8]).decode()


def resource_entry(resource: Resource) -> Object:
    entry: Object = {"name": resource.plural, "singularName": resource.singular,
                   "namespaced": resource.namespaced, "kind": resource.kind,
                   "verbs": sorted(resource.verbs)}
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entry["storageVersionHash"] = storage_version_hash(resource)
    return entry


def subresource_entry(resource: Resource, sub: str) -> Object:
    group, version, kind, verbs = _SUBRESOURCES.get(sub, ("", "", None, ("get",)))
    entry: Object = {"name": f"{resource.plural}/{sub}", "singularName": "",
                   "namespaced": resource.namespaced}
    if group:
        entry["group"], entry["version"] = group, version
    entry["kind"] = kind or resource.kind
    entry["verbs"] = list(verbs)
    return entry


def api_resource_list(group: str, version: str,
                      served_subresources: Collection[str] | None = None) -> Object | None:
    """/api/v1 or /apis/{group}/{version}; None if we serve no such group/version.

    `served_subresources` limits subresource entries to what the server really
    handles (kubectl drain, for one, uses eviction only when it is advertised).
    """
    chosen = [r for r in served() if r.group == group and r.version == version]
    if not chosen:
        return None
    entries = []
    for resource in sorted(chosen, key=lambda r: r.plural):
        entries.append(resource_entry(resource))
        for sub in sorted(resource.subresources):
            if served_subresources is None or sub in served_subresources:
                entries.append(subresource_entry(resource, sub))
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}


# -- aggregated discovery (apidiscovery.k8s.io/v2: what kubectl >= 1.30 asks for first) -----

AGGREGATED_VERSIONS = ("v2", "v2beta1")


def aggregated_version(accept: str) -> str | None:
    """The apidiscovery version the client accepts first, if any (else legacy discovery)."""
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("as") == "APIGroupDiscoveryList" and \
                params.get("g") == "apidiscovery.k8s.io" and params.get("v") in \
                AGGREGATED_VERSIONS:
            return params["v"]
    return None


def _discovered_resource(resource: Resource, served_subresources: Collection[str] | None
                         ) -> Object:
    entry: Object = {
        "resource": resource.plural,
        "responseKind": {"group": resource.group, "version": resource.version,
                         "kind": resource.kind},
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular, "verbs": sorted(resource.verbs)}
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    subs = []
    for sub in sorted(resource.subresources):
        if served_subresources is not None and sub not in served_subresources:
            continue
        group, version, kind, verbs = _SUBRESOURCES.get(sub, ("", "", None, ("get",)))
        subs.append({"subresource": sub, "responseKind": {
            "group": group if group else resource.group,
            "version": version if version else resource.version,
            "kind": kind or resource.kind}, "verbs": list(verbs)})
    if subs:
        entry["subresources"] = subs
    return entry


def _by_resource(entry: Object) -> str:
    return str(entry["resource"])


def aggregated(core: bool, version: str,
               served_subresources: Collection[str] | None = None) -> Object:
    """/api (core) or /apis as one APIGroupDiscoveryList: every group, version and
    resource in a single document."""
    groups: dict[str, dict[str, list[Object]]] = {}
    for r in served():
        if (r.group == "") == core:
            groups.setdefault(r.group, {}).setdefault(r.version, []).append(
                _discovered_resource(r, served_subresources))
    items: list[Object] = []
    for group, versions in groups.items():
        meta: Object = {"creationTimestamp": None}
        if group:
            meta["name"] = group
        items.append({"metadata": meta, "versions": [
            {"version": v, "resources": sorted(rs, key=_by_resource), "freshness": "Current"}
            for v, rs in versions.items()]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
