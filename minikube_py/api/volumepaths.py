"""No way out of a pod through its volumes: the paths and modes of a pod spec that name
places inside a volume, validated as Kubernetes' ValidateVolumes/ValidateVolumeMounts do.

A `subPath`/`subPathExpr`, a configMap/secret item's `path`, a downwardAPI file's `path`
and a projected token's `path` must stay below the volume: relative, without a `..`
element. File modes are 0-0777. The kubelet checks again where it writes and mounts
(agent/kubelet/subpath.py), since a container can plant symlinks in what it shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause

MODE_MESSAGE = "must be a number between 0 and 0777 (octal), both inclusive"
_SOURCES_WITH_ITEMS = ("secret", "configMap")


def descending_path_causes(value: Any, path: str) -> list[Cause]:
    """validateLocalDescendingPath: relative and no `..` element."""
    if not isinstance(value, str):
        return [field.invalid(path, value, "must be a string")]
    causes = []
    if value.startswith("/"):
        causes.append(field.invalid(path, value, "must be a relative path"))
    if ".." in value.split("/"):
        causes.append(field.invalid(path, value, "must not contain '..'"))
    return causes


def _mode_causes(value: Any, path: str) -> list[Cause]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        return [field.invalid(path, value, MODE_MESSAGE)]
    return []


def _item_causes(items: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for here, item in field.objects(items, path, causes):
        if not item.get("path"):
            causes.append(field.required(f"{here}.path"))
        else:
            causes += descending_path_causes(item["path"], f"{here}.path")
        causes += _mode_causes(item.get("mode"), f"{here}.mode")
    return causes


def _source_causes(source: Mapping[str, Any], path: str) -> list[Cause]:
    """The items of one secret/configMap/downwardAPI source (a volume or a projection)."""
    causes: list[Cause] = []
    for kind in (*_SOURCES_WITH_ITEMS, "downwardAPI"):
        spec = source.get(kind)
        if isinstance(spec, Mapping):
            causes += _item_causes(spec.get("items"), f"{path}.{kind}.items")
    token = source.get("serviceAccountToken")
    if isinstance(token, Mapping) and "path" in token:
        causes += descending_path_causes(token["path"], f"{path}.serviceAccountToken.path")
    return causes


def volume_causes(volume: Mapping[str, Any], path: str) -> list[Cause]:
    """What in one pod volume could name a place outside it, or a bad file mode."""
    causes = _source_causes(volume, path)
    for kind in (*_SOURCES_WITH_ITEMS, "downwardAPI", "projected"):
        spec = volume.get(kind)
        if isinstance(spec, Mapping):
            causes += _mode_causes(spec.get("defaultMode"), f"{path}.{kind}.defaultMode")
    projected = volume.get("projected")
    if isinstance(projected, Mapping):
        for here, source in field.objects(projected.get("sources"), f"{path}.projected.sources",
                                          causes):
            causes += _source_causes(source, here)
    return causes


def mount_causes(mount: Mapping[str, Any], path: str) -> list[Cause]:
    """A volumeMount's subPath/subPathExpr stay below the volume; not both."""
    causes = []
    for key in ("subPath", "subPathExpr"):
        if mount.get(key):
            causes += descending_path_causes(mount[key], f"{path}.{key}")
    if mount.get("subPath") and mount.get("subPathExpr"):
        causes.append(field.invalid(f"{path}.subPathExpr", mount["subPathExpr"],
                                    "subPathExpr and subPath are mutually exclusive"))
    return causes
