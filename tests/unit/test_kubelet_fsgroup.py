"""SetVolumeOwnership as kubelet does it (agent/kubelet/fsgroup.py): the group on every
entry, rw (ro for read-only volumes) for it, setgid and search on directories, symlinks
chowned but never followed or chmodded, and OnRootMismatch skipping a volume whose root
already matches."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.kubelet.fsgroup import FsGroup, of_pod, root_matches, set_volume_ownership

GID = os.getgid()  # a group this process may give files to without being root


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    vol = tmp_path / "vol"
    (vol / "sub").mkdir(parents=True)
    (vol / "f").write_text("x")
    (vol / "sub" / "g").write_text("y")
    for p, mode in ((vol, 0o700), (vol / "sub", 0o700), (vol / "f", 0o600),
                    (vol / "sub" / "g", 0o400)):
        p.chmod(mode)
    outside = tmp_path / "outside"
    outside.write_text("host file")
    outside.chmod(0o600)
    (vol / "link").symlink_to(outside)
    return vol


def test_read_write_volume(volume: Path) -> None:
    assert set_volume_ownership(str(volume), FsGroup(GID)) is True
    assert _mode(volume) == 0o2770 and _mode(volume / "sub") == 0o2770
    assert _mode(volume / "f") == 0o660 and _mode(volume / "sub" / "g") == 0o660
    assert all(os.lstat(p).st_gid == GID for p in (volume, volume / "f", volume / "link"))
    assert _mode(volume.parent / "outside") == 0o600  # the link's target is untouched


def test_read_only_volume_gets_group_read(volume: Path) -> None:
    set_volume_ownership(str(volume), FsGroup(GID), read_only=True)
    assert _mode(volume / "sub" / "g") == 0o440 and _mode(volume / "f") == 0o640
    assert _mode(volume / "sub") == 0o2750


def test_on_root_mismatch_skips_a_matching_root(volume: Path) -> None:
    group = FsGroup(GID, "OnRootMismatch")
    assert not root_matches(str(volume), group, False)
    assert set_volume_ownership(str(volume), group) is True
    (volume / "late").write_text("z")
    (volume / "late").chmod(0o600)
    assert set_volume_ownership(str(volume), group) is False  # root matches: no walk
    assert _mode(volume / "late") == 0o600
    assert set_volume_ownership(str(volume), FsGroup(GID, "Always")) is True
    assert _mode(volume / "late") == 0o660


@pytest.mark.root
def test_another_group(volume: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("root only: giving files to a group this process is not in")
    set_volume_ownership(str(volume), FsGroup(4242))
    assert os.lstat(volume / "sub" / "g").st_gid == 4242
    assert os.lstat(volume.parent / "outside").st_gid != 4242


def test_of_pod() -> None:
    assert of_pod({"spec": {}}) is None
    assert of_pod({"spec": {"securityContext": {"fsGroup": 2000}}}) == FsGroup(2000, "Always")
    assert of_pod({"spec": {"securityContext": {
        "fsGroup": 2000, "fsGroupChangePolicy": "OnRootMismatch"}}}) == \
        FsGroup(2000, "OnRootMismatch")
