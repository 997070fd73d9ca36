"""kubelet's eviction manager, for the one limit a pod sets on its own storage: an emptyDir
`sizeLimit`.

Every `interval` (kubelet's 10 s monitoring period) the disk usage of each running pod's
disk-backed emptyDir volumes with a sizeLimit is measured as `du` does (allocated blocks,
symlinks not followed); a pod using more than its limit is evicted at once, as kubelet's
localStorageEviction does: its containers are killed, it is Failed with reason `Evicted`
and kubelet's message, and a Warning event says the same. A Memory emptyDir needs no
watch: its tmpfs is mounted with the limit as its size.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minikube_py.api.quantity import to_bytes

log = logging.getLogger(__name__)

EVICTION_INTERVAL = 10.0
EVICTED = "Evicted"
# pkg/kubelet/eviction/helpers.go emptyDirMessageFmt (%q of the name and the limit).
EMPTYDIR_MESSAGE = 'Usage of EmptyDir volume "{name}" exceeds the limit "{limit}". '


def disk_usage(path: Path) -> int:
    """Bytes allocated to `path` and everything below it (du), 0 if it is gone."""
    total = 0
    try:
        total += os.lstat(path).st_blocks * 512
    except OSError:
        return 0
    for root, dirs, files, root_fd in os.fwalk(path, follow_symlinks=False):
        for name in [*dirs, *files]:
            try:
                total += os.stat(name, dir_fd=root_fd, follow_symlinks=False).st_blocks * 512
            except OSError:
                continue  # removed while we walked
    return total


def exceeded(pod: dict[str, Any], volume_dir: Callable[[str, str], Path]) -> str | None:
    """kubelet's message for the first disk-backed emptyDir of `pod` over its sizeLimit."""
    uid = pod["metadata"]["uid"]
    for volume in pod["spec"].get("volumes") or []:
        empty = volume.get("emptyDir")
        if not isinstance(empty, dict) or not empty.get("sizeLimit") \
                or empty.get("medium") == "Memory":
            continue
        limit = to_bytes(empty["sizeLimit"])
        if limit > 0 and disk_usage(volume_dir(uid, volume["name"])) > limit:
            return EMPTYDIR_MESSAGE.format(name=volume["name"], limit=empty["sizeLimit"])
    return None


def _watched(pod: dict[str, Any]) -> bool:
    """A live pod with some emptyDir sizeLimit to watch."""
    if pod["metadata"].get("deletionTimestamp") or \
            (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return any((v.get("emptyDir") or {}).get("sizeLimit")
               for v in pod["spec"].get("volumes") or [])


class EmptyDirEviction:
    """The loop: measure, and hand each pod over its limit to `evict` (once)."""

    def __init__(self, pods: Callable[[], list[dict[str, Any]]],
                 volume_dir: Callable[[str, str], Path],
                 evict: Callable[[dict[str, Any], str], None],
                 interval: float = EVICTION_INTERVAL) -> None:
        self.pods, self.volume_dir, self.evict = pods, volume_dir, evict
        self.interval = interval
        self.evicted: set[str] = set()

    async def check(self) -> None:
        """One round over the pods that have limits."""
        for pod in self.pods():
            uid = pod["metadata"]["uid"]
            if uid in self.evicted or not _watched(pod):
                continue
            message = await asyncio.to_thread(exceeded, pod, self.volume_dir)
            if message is not None:
                log.info("evicting pod=%s/%s reason=%s message=%s",
                         pod["metadata"]["namespace"], pod["metadata"]["name"], EVICTED,
                         message.strip())
                self.evicted.add(uid)
                self.evict(pod, message)

    def forget(self, live: set[str]) -> None:
        """Drop the evicted pods that no longer exist."""
        self.evicted &= live

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()
