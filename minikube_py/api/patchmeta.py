"""Which lists merge by which key: the `patchStrategy`/`patchMergeKey` struct tags of
Kubernetes' Go types, written down once.

Strategic merge patch reads this to merge `containers` by name instead of
replacing the list, and /openapi/v2 publishes it as x-kubernetes-patch-strategy
and x-kubernetes-patch-merge-key so kubectl computes the same patches.
A path is the tuple of field names from the object root, list indices left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.api import resources
from minikube_py.api.resources import Resource

Path = tuple[str, ...]


@dataclass(frozen=True)
class ListMeta:
    """How a list field merges: strategy "merge" with a key (None for primitive lists)."""

    strategy: str
    key: str | None = None


_CONTAINER = {
    ("ports",): ListMeta("merge", "containerPort"),
    ("env",): ListMeta("merge", "name"),
    ("volumeMounts",): ListMeta("merge", "mountPath"),
    ("volumeDevices",): ListMeta("merge", "devicePath"),
}
_POD_SPEC: dict[Path, ListMeta] = {
    ("volumes",): ListMeta("merge,retainKeys", "name"),
    ("imagePullSecrets",): ListMeta("merge", "name"),
    ("hostAliases",): ListMeta("merge", "ip"),
    ("topologySpreadConstraints",): ListMeta("merge", "topologyKey"),
    ("schedulingGates",): ListMeta("merge", "name"),
    ("resourceClaims",): ListMeta("merge,retainKeys", "name"),
}
for _list in ("containers", "initContainers", "ephemeralContainers"):
    _POD_SPEC[(_list,)] = ListMeta("merge", "name")
    _POD_SPEC.update({(_list, *sub): meta for sub, meta in _CONTAINER.items()})

_OBJECT_META: dict[Path, ListMeta] = {
    ("finalizers",): ListMeta("merge"),
    ("ownerReferences",): ListMeta("merge", "uid"),
}
_CONDITIONS: dict[Path, ListMeta] = {("conditions",): ListMeta("merge", "type")}
# Maps (not lists) whose patchStrategy is retainKeys: a union that drops stale members.
RETAIN_KEYS_MAPS: dict[Resource, tuple[Path, ...]] = {
    resources.DEPLOYMENTS: (("spec", "strategy"),),
}


def _under(prefix: Path, table: dict[Path, ListMeta]) -> dict[Path, ListMeta]:
    return {prefix + path: meta for path, meta in table.items()}


def _build() -> dict[Resource, dict[Path, ListMeta]]:
    tables: dict[Resource, dict[Path, ListMeta]] = {}
    for resource in resources.ALL:
        tables[resource] = _under(("metadata",), _OBJECT_META)
    tables[resources.PODS].update(_under(("spec",), _POD_SPEC))
    tables[resources.PODS].update(_under(("status",), _CONDITIONS))
    tables[resources.PODS].update({("status", "podIPs"): ListMeta("merge", "ip"),
                                   ("status", "hostIPs"): ListMeta("merge", "ip")})
    for workload in (resources.DEPLOYMENTS, resources.REPLICASETS, resources.DAEMONSETS,
                     resources.STATEFULSETS, resources.REPLICATIONCONTROLLERS):
        tables[workload].update(_under(("spec", "template", "metadata"), _OBJECT_META))
        tables[workload].update(_under(("spec", "template", "spec"), _POD_SPEC))
        tables[workload].update(_under(("status",), _CONDITIONS))
    tables[resources.JOBS].update(_under(("spec", "template", "metadata"), _OBJECT_META))
    tables[resources.JOBS].update(_under(("spec", "template", "spec"), _POD_SPEC))
    tables[resources.JOBS].update(_under(("status",), _CONDITIONS))
    job_template = ("spec", "jobTemplate", "spec", "template")
    tables[resources.CRONJOBS].update(_under((*job_template, "metadata"), _OBJECT_META))
    tables[resources.CRONJOBS].update(_under((*job_template, "spec"), _POD_SPEC))
    tables[resources.PODDISRUPTIONBUDGETS].update(_under(("status",), _CONDITIONS))
    tables[resources.SERVICES].update({("spec", "ports"): ListMeta("merge", "port")})
    tables[resources.SERVICES].update(_under(("status",), _CONDITIONS))
    tables[resources.NODES].update({
        ("spec", "podCIDRs"): ListMeta("merge"),
        ("status", "addresses"): ListMeta("merge", "type"),
    })
    tables[resources.NODES].update(_under(("status",), _CONDITIONS))
    tables[resources.NAMESPACES].update(_under(("status",), _CONDITIONS))
    tables[resources.SERVICEACCOUNTS].update({("secrets",): ListMeta("merge", "name")})
    return tables


_TABLES = _build()


def list_meta(resource: Resource | None, path: Path) -> ListMeta | None:
    """The merge rule for the list at `path`, or None: the list is replaced whole."""
    if resource is None:
        return None
    return _TABLES.get(resource, {}).get(path)


def all_list_meta(resource: Resource) -> dict[Path, ListMeta]:
    return dict(_TABLES.get(resource, {}))
