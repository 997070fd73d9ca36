"""Minimal discovery documents, served until the api package's discovery.py lands.

Same function names as minikube_py.apiserver.discovery (see CONTRACTS.md), built
straight from the resource table.
"""

from __future__ import annotations

from typing import Any

from minikube_py.api.resources import ALL, Resource


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in ALL:
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return groups


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in _groups().items()]}


def api_group(group: str) -> dict[str, Any] | None:
    versions = _groups().get(group)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _entry(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular,
                             "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    return entry


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    resources = [r for r in ALL if r.group == group and r.version == version]
    if not resources:
        return None
    entries = []
    for r in resources:
        entries.append(_entry(r))
        entries += [{"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                     "kind": r.kind, "verbs": ["get", "patch", "update"]}
                    for sub in r.subresources]
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}


def openapi_v2() -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "minikube-py", "version": "v1.32.0"},
            "paths": {}, "definitions": {}}
