"""The node's half of the local-path provisioner: when a local-path volume whose reclaim
policy is Delete is deleted (the PV binder does that once its claim is gone), remove its
directory, which only this node can reach (the controller-manager may run elsewhere).

The volume's last state, as the watch's DELETED event carries it, decides: a Retain
volume deleted by an administrator keeps its data, as Kubernetes promises. A directory
whose volume was deleted while this agent was down is left in place (its policy is no
longer known): never removed on a guess.

Only a directory the provisioner could have made is removed: named for its volume
(`pvc-<uid>_<namespace>_<claim>`), directly in one of the node's storage roots (the
default, and those given with --local-path-root, as local-path-provisioner's nodePathMap),
with no symlink on the way. A volume object naming any other path (`/etc/pvc-x`, a
`..`, a link planted under the root) removes nothing, whoever wrote it."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from minikube_py.api.resources import PERSISTENTVOLUMES
from minikube_py.api.storageclass import LOCAL_PATH_PROVISIONER
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, Informer, run_tasks

log = logging.getLogger(__name__)
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def directory_to_remove(volume: Object, roots: Sequence[Path]) -> Path | None:
    """The directory of a deleted local-path volume with reclaim policy Delete, if it is
    its own directory right under one of `roots`."""
    spec = volume.get("spec") or {}
    annotations = volume["metadata"].get("annotations") or {}
    path = (spec.get("hostPath") or {}).get("path")
    if annotations.get(PROVISIONED_BY) != LOCAL_PATH_PROVISIONER or not isinstance(path, str) \
            or spec.get("persistentVolumeReclaimPolicy") != "Delete":
        return None
    directory = Path(path)
    name = str(volume["metadata"].get("name") or "")
    if not name.startswith("pvc-") or directory.name.split("_")[0] != name:
        return None
    if os.path.normpath(path) != path.rstrip("/") or not directory.is_absolute():
        return None  # '..', '.', '//' : not a path the provisioner writes
    parent = os.path.realpath(directory.parent)
    if not any(parent == os.path.realpath(root) for root in roots):
        log.warning("not removing a local-path directory outside the storage roots "
                    "volume=%s path=%s", name, path)
        return None
    return Path(parent) / directory.name


class LocalPathCleaner:
    """Watches volumes; removes the directories of deleted Delete-policy local-path ones."""

    def __init__(self, client: ApiClient, roots: Sequence[Path]) -> None:
        self.roots = list(roots)
        self.volumes = Informer(client, PERSISTENTVOLUMES)
        self.pending: asyncio.Queue[Path] = asyncio.Queue()
        self.volumes.add_handlers(on_delete=self._deleted)

    def _deleted(self, volume: Object) -> None:
        directory = directory_to_remove(volume, self.roots)
        if directory is not None:
            self.pending.put_nowait(directory)

    async def run(self) -> None:
        await run_tasks({"local-path-volumes": self.volumes.run(),
                         "local-path-cleaner": self._remove_loop()})

    async def _remove_loop(self) -> None:
        while True:
            directory = await self.pending.get()
            if directory.is_dir() and not directory.is_symlink():
                await asyncio.to_thread(shutil.rmtree, directory, True)
                log.info("local-path volume directory removed path=%s", directory)
