"""A volumeMount's subPath, bound so that no container can swap it between the check and
the mount, as kubelet's subpath_linux.go does since CVE-2017-1002101.

The path must resolve inside its volume (`below`). Checked and then handed to Docker as a
path, it would still be open to a race: a container sharing the volume could replace a
directory on it with a symlink to the host's `/` after the check and before Docker mounts
it. So the resolved path is opened one component at a time from the volume's directory
with O_NOFOLLOW (a component that became a symlink since the check fails the open), and
what was opened is bind-mounted through /proc/self/fd at
`<pod dir>/volume-subpaths/<volume>/<container>/<index>`, a path only the kubelet writes.
Docker gets that path: the mount pins what was checked.

The binds are made in the agent's mount namespace, which dockerd shares on a host and in
a lab (whose agents enter only their node's network namespace). An agent in a mount
namespace of its own (started under `ip netns exec`) cannot make binds dockerd sees:
there the checked path is handed over as before (`binds_visible`).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import socket
import stat
import struct
from pathlib import Path

from agent.kubelet.errors import ContainerConfigError

log = logging.getLogger(__name__)

SUBPATHS_DIR = "volume-subpaths"
DEFAULT_DOCKER = "unix:///var/run/docker.sock"
MS_BIND = 0x1000
_libc = ctypes.CDLL(None, use_errno=True)
_OCTAL = re.compile(r"\\([0-7]{3})")  # mountinfo's escapes of space, tab, newline, \\
_DIR_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


def below(base: str | Path, relative: str) -> str:
    """`base/relative` if its real path (every symlink resolved, those a container may have
    planted in a shared volume too) is still inside `base`; else ContainerConfigError.
    The api-server refuses such paths already (api/volumepaths.py); this is the kubelet's
    own check where it writes and mounts."""
    root, _ = _resolved(base, relative)
    return os.path.join(root, relative)


def _resolved(base: str | Path, relative: str) -> tuple[str, list[str]]:
    """The volume's real path and the components of `relative`'s real path below it."""
    root = os.path.realpath(base)
    real = os.path.realpath(os.path.join(root, relative))
    inside = root.rstrip(os.sep) + os.sep  # a hostPath volume may be "/"
    if os.path.isabs(relative) or (real != root and not real.startswith(inside)):
        raise ContainerConfigError(f"path {relative!r} resolves outside its volume "
                                   f"({real}): refused")
    return root, [p for p in real[len(inside):].split(os.sep) if p] if real != root else []


def binds_visible(docker_url: str = "") -> bool:
    """Whether a mount the agent makes is seen by the dockerd it talks to: both are in
    one mount namespace (dockerd's pid is the peer of its unix socket)."""
    url = docker_url or os.environ.get("DOCKER_HOST", "") or DEFAULT_DOCKER
    if not url.startswith("unix://"):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(url.removeprefix("unix://"))
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
        pid = struct.unpack("3i", creds)[0]
        shared = os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError as e:
        log.warning("cannot tell dockerd's mount namespace, subPath binds off error=%s", e)
        return False
    if not shared:
        log.info("dockerd is in another mount namespace, subPath binds off")
    return shared


def open_below(base: str, relative: str) -> int:
    """An O_PATH descriptor of `base/relative`, walked from `base` without following any
    symlink; missing directories are made (with the volume's own mode, as kubelet's
    SafeMakeDir). The real path is checked first, so links inside the volume (a
    configMap key's `..data/`) are fine; one that appears after the check is refused."""
    root, parts = _resolved(base, relative)
    fd = os.open(root, _DIR_FLAGS)
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                child = os.open(part, (os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC) if last
                                else _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, mode, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.chmod(f"/proc/self/fd/{child}", mode)  # past the umask, as kubelet does
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _changed(relative) from None
                raise
            os.close(fd)
            fd = child
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise _changed(relative)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _changed(relative: str) -> ContainerConfigError:
    return ContainerConfigError(f"subPath {relative!r} changed while being mounted "
                                "(a symlink appeared): refused")


def bind(base: str, relative: str, target: Path) -> str:
    """Bind `base/relative`, opened safely, at `target` (a fresh bind every time: a
    restarted container gets the path checked again); the path to hand to Docker."""
    fd = open_below(base, relative)
    try:
        unmount(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            target.mkdir(exist_ok=True)
        else:
            target.touch(exist_ok=True)
        if _libc.mount(f"/proc/self/fd/{fd}".encode(), str(target).encode(), None,
                       MS_BIND, None) != 0:
            err = ctypes.get_errno()
            raise ContainerConfigError(f"subPath {relative!r}: bind mount failed: "
                                       f"{os.strerror(err)}")
    finally:
        os.close(fd)
    return str(target)


def mounted_under(prefix: Path) -> list[str]:
    """Mount points at or under `prefix`, deepest first (/proc/self/mountinfo: a bind of
    a directory of the same filesystem is not told by os.path.ismount)."""
    top = str(prefix)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), line.split(" ")[4])
            if point == top or point.startswith(top + os.sep):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount(path: Path) -> None:
    """Unmount everything at or under `path` (nothing mounted: nothing to do); OSError if
    a mount stays, so no caller removes a tree a bind still joins to a volume."""
    for point in mounted_under(path):
        if _libc.umount2(point.encode(), 0) != 0:
            err = ctypes.get_errno()
            if err != errno.EINVAL:  # EINVAL: not (or no longer) a mount point
                raise OSError(err, f"umount {point}: {os.strerror(err)}")
