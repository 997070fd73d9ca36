"""Kubernetes' AtomicWriter in small, for the volumes the kubelet writes (configMap,
secret, downwardAPI, projected): the files go into a fresh `..<n>` directory, `..data` is
swapped to it with one rename, and each key is a symlink through `..data`, so a container
never sees half an update. Each file has its own mode (an item's `mode`, else the
volume's `defaultMode`) and, for a service-account token, the owner the pod runs as.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.kubelet.errors import ContainerConfigError

_counter = itertools.count()


@dataclass(frozen=True)
class FileProjection:
    """One file of a volume: its bytes, mode and owner (None: root's)."""

    data: bytes
    mode: int = 0o644
    uid: int | None = None


def write_atomic(target: Path, files: dict[str, FileProjection]) -> bool:
    """Kubernetes' AtomicWriter in small: new payload dir, `..data` swapped by rename.
    False when the payload was already there (nothing written)."""
    target.mkdir(parents=True, exist_ok=True)
    for rel in files:
        if os.path.isabs(rel) or ".." in rel.split("/"):
            raise ContainerConfigError(f"file path {rel!r} would leave its volume: refused")
    data_link = target / "..data"
    old = _current_payload(target)
    if old is not None and _unchanged(target / old, files):
        return False
    payload = target / f"..{os.getpid()}_{next(_counter)}"
    payload.mkdir()
    for rel, file in files.items():
        path = payload / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
        path.chmod(file.mode)
        if file.uid is not None:
            os.chown(path, file.uid, -1)
    if os.path.lexists(data_link) and not data_link.is_symlink():
        shutil.rmtree(data_link, ignore_errors=True)  # not ours: a link is swapped in below
    tmp_link = target / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(payload.name)
    os.replace(tmp_link, data_link)
    for top in {rel.split("/", 1)[0] for rel in files}:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    for entry in target.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and not entry.exists():
            entry.unlink()  # a key that was removed from the source
    if old:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def _current_payload(target: Path) -> str | None:
    """The payload directory `..data` names, if it is one of ours: a `..<n>` directory
    right in `target`. A link a container planted there (to `/etc`, `../..`) names
    nothing the writer then compares with or removes (CVE-2017-1002102)."""
    try:
        name = os.readlink(target / "..data")
    except OSError:
        return None
    if os.sep in name or not name.startswith("..") or name in ("..", "..data", "..data_tmp"):
        return None
    try:
        is_dir = stat.S_ISDIR(os.lstat(target / name).st_mode)
    except OSError:
        return None
    return name if is_dir else None


def _unchanged(data_dir: Path, files: dict[str, FileProjection]) -> bool:
    """True when the current payload holds exactly `files` (a resync then writes nothing)."""
    present = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file()}
    return present == set(files) and all(_same(data_dir / rel, file)
                                         for rel, file in files.items())


def _same(path: Path, file: FileProjection) -> bool:
    st = path.stat()
    return stat.S_IMODE(st.st_mode) == file.mode and file.uid in (None, st.st_uid) \
        and path.read_bytes() == file.data
