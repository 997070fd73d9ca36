"""Writing a credential file so that a crash never leaves it torn, empty or readable.

Keys, certificates, tokens and kubeconfigs are read at every start: one left empty
by a power cut after rename (its data still in the page cache) locks the cluster
out, and one readable by others for the moment between create and chmod leaks a
key. So: a temporary file beside the target, with its mode from the first byte,
written and fsync'd, renamed over the target, then the directory fsync'd so the
rename itself is on disk. Used for every such file (one helper, one behaviour).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Replace `path` with `data`: after a crash it holds the old bytes or the new ones.
    0600 unless told (certificates and public keys: 0644)."""
    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    try:
        os.fchmod(fd, mode)  # a leftover tmp keeps its old mode; the umask may narrow it
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    sync_dir(path.parent)


def sync_dir(directory: Path) -> None:
    """fsync a directory: makes the names created or renamed in it durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
