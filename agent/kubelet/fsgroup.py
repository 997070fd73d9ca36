"""A pod's `securityContext.fsGroup` on its volumes, as kubelet's SetVolumeOwnership.

Every file and directory of the volume is given to the group (lchown), made readable and
writable by it (0660; 0440 for the read-only configMap/secret/downwardAPI/projected kinds),
and directories also searchable and setgid (so what a container creates there is the
group's too). Symlinks are chowned but never chmodded. `fsGroupChangePolicy:
OnRootMismatch` skips the walk when the volume's root already has the group and those
bits; `Always` (the default) walks every time the volume is set up.

The walk runs over directory file descriptors (os.fwalk) and changes each entry relative
to its directory without following a final symlink, so a container that swaps a
directory for a symlink to the host's /etc while the walk runs gains nothing.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

RW_MASK, RO_MASK, EXEC_MASK = 0o660, 0o440, 0o110


@dataclass(frozen=True)
class FsGroup:
    gid: int
    policy: str = "Always"  # or OnRootMismatch


def of_pod(pod: dict[str, Any]) -> FsGroup | None:
    """The pod's fsGroup and fsGroupChangePolicy, None without an fsGroup."""
    psc = pod.get("spec", {}).get("securityContext") or {}
    if psc.get("fsGroup") is None:
        return None
    return FsGroup(int(psc["fsGroup"]), str(psc.get("fsGroupChangePolicy") or "Always"))


def _mask(mode: int, read_only: bool) -> int:
    mask = RO_MASK if read_only else RW_MASK
    return mask | stat.S_ISGID | EXEC_MASK if stat.S_ISDIR(mode) else mask


def root_matches(path: str, group: FsGroup, read_only: bool) -> bool:
    """OnRootMismatch's test: the root has the group and the bits already."""
    st = os.lstat(path)
    mask = _mask(st.st_mode, read_only)
    return st.st_gid == group.gid and st.st_mode & mask == mask


def set_volume_ownership(path: str, group: FsGroup, *, read_only: bool = False) -> bool:
    """Give the volume at `path` to the group; False when the policy skipped it."""
    if group.policy == "OnRootMismatch" and root_matches(path, group, read_only):
        return False
    _change(path, None, group.gid, read_only)
    for _, dirs, files, dir_fd in os.fwalk(path, follow_symlinks=False):
        for name in [*dirs, *files]:
            _change(name, dir_fd, group.gid, read_only)
    log.info("volume ownership set path=%s gid=%d read_only=%s", path, group.gid, read_only)
    return True


def _change(name: str, dir_fd: int | None, gid: int, read_only: bool) -> None:
    """lchown the entry; chmod it only if it is a regular file or a directory, through an
    O_NOFOLLOW descriptor (a symlink swapped in is refused by the open)."""
    try:
        os.chown(name, -1, gid, dir_fd=dir_fd, follow_symlinks=False)
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return  # gone, or became a symlink or a socket meanwhile: nothing to change
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            os.fchmod(fd, stat.S_IMODE(st.st_mode) | _mask(st.st_mode, read_only))
    finally:
        os.close(fd)
