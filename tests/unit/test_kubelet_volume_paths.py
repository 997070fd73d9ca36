"""The kubelet's own check on paths into volumes: a subPath or file path that resolves
outside its volume (by `..` or through a symlink planted in it) is refused, nothing is
written or made outside; and a pod's files sit where only root can traverse."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet import subpath
from agent.kubelet.atomic_writer import FileProjection, write_atomic
from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.source import DictSource
from agent.kubelet.subpath import below
from agent.kubelet.volumes import VolumeManager


def test_paths_inside_the_volume_pass(tmp_path: Path) -> None:
    (tmp_path / "vol" / "a").mkdir(parents=True)
    (tmp_path / "vol" / "inner").symlink_to("a")
    assert below(tmp_path / "vol", "a/b") == str(tmp_path / "vol" / "a" / "b")
    assert below(tmp_path / "vol", "inner") == str(tmp_path / "vol" / "inner")


@pytest.mark.parametrize("link", [pytest.param("/", id="to the host's root"),
                                  pytest.param("../..", id="to a parent, relatively")])
def test_a_planted_symlink_is_refused(tmp_path: Path, link: str) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "escape").symlink_to(link)
    for sub in ("escape", "escape/etc", "./escape"):
        with pytest.raises(ContainerConfigError, match="resolves outside its volume"):
            below(vol, sub)


@pytest.mark.parametrize("sub", ["../x", "/etc", "a/../../x"])
def test_dot_dot_and_absolute_paths_are_refused(tmp_path: Path, sub: str) -> None:
    with pytest.raises(ContainerConfigError):
        below(tmp_path, sub)


@pytest.mark.parametrize("rel", ["../outside", "/tmp/outside", "a/../../outside"])
def test_atomic_writer_writes_nothing_outside(tmp_path: Path, rel: str) -> None:
    with pytest.raises(ContainerConfigError):
        write_atomic(tmp_path / "vol", {"ok": FileProjection(b"1"), rel: FileProjection(b"2")})
    assert not (tmp_path / "outside").exists()
    assert os.listdir(tmp_path / "vol") == []


async def test_pod_files_sit_where_only_root_can_reach(tmp_path: Path) -> None:
    volumes = VolumeManager(tmp_path, DictSource())
    pod = {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"},
           "spec": {"volumes": [{"name": "scratch", "emptyDir": {}}]}}
    paths = await volumes.prepare(pod)
    assert stat.S_IMODE((tmp_path / "pods").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "pods" / "u1").stat().st_mode) == 0o750
    assert stat.S_IMODE(os.stat(paths["scratch"]).st_mode) == 0o777  # shared with the pod


@pytest.mark.parametrize("source", [{"server": "-oexec", "path": "/x"},
                                    {"server": "nfs\n-o", "path": "/x"},
                                    {"server": "nfs", "path": "-x"}])
def test_an_nfs_source_that_mount_would_take_as_an_option_is_refused(
        tmp_path: Path, source: dict[str, str]) -> None:
    import asyncio

    from agent.kubelet.volumes import _mount_nfs
    with pytest.raises(ContainerConfigError, match="nfs"):
        asyncio.run(_mount_nfs(source, tmp_path / "t", []))
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("planted", [pytest.param("abs", id="..data to an absolute path"),
                                     pytest.param("rel", id="..data up and out"),
                                     pytest.param("dir", id="..data made a directory")])
def test_an_update_after_a_planted_data_link_removes_nothing_outside(
        tmp_path: Path, planted: str) -> None:
    """Kubernetes' CVE-2017-1002102: the writer swaps `..data` and removes the payload the
    old link named. A link planted in its place must not name what the writer removes."""
    vol, victim = tmp_path / "vol", tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("host file")
    write_atomic(vol, {"key": FileProjection(b"1")})
    data = vol / "..data"
    data.unlink()
    if planted == "dir":
        data.mkdir()
    else:
        data.symlink_to(victim if planted == "abs" else "../victim")
    assert write_atomic(vol, {"key": FileProjection(b"2")})
    assert (victim / "keep").read_text() == "host file"
    assert (vol / "key").read_bytes() == b"2"


async def test_api_data_volumes_are_bound_read_only(tmp_path: Path) -> None:
    """configMap, secret, downwardAPI and projected volumes are the kubelet's to write:
    containers get them read-only, whatever the mount asks (as Kubernetes since 1.10)."""
    volumes = VolumeManager(tmp_path, DictSource())
    kinds: dict[str, dict[str, Any]] = {"cm": {"configMap": {"name": "c", "optional": True}},
                                        "sec": {"secret": {"secretName": "s", "optional": True}},
                                        "dapi": {"downwardAPI": {"items": []}},
                                        "proj": {"projected": {"sources": []}},
                                        "scratch": {"emptyDir": {}}}
    pod = {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"},
           "spec": {"volumes": [{"name": n, **v} for n, v in kinds.items()]}}
    paths = await volumes.prepare(pod)
    mounts = [{"name": n, "mountPath": f"/{n}", "readOnly": False} for n in kinds]
    binds = volumes.binds(pod, {"name": "c", "volumeMounts": mounts}, paths, {})
    assert {b.split(":")[1]: b.split(":")[2] for b in binds} == {
        "/cm": "ro", "/sec": "ro", "/dapi": "ro", "/proj": "ro", "/scratch": "rw"}


def _walked(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_a_subpath_is_opened_below_its_volume_and_missing_dirs_are_made(
        tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    (vol / "..2_0").mkdir(parents=True)
    (vol / "..2_0" / "key").write_text("v")
    (vol / "..data").symlink_to("..2_0")
    (vol / "key").symlink_to("..data/key")  # a configMap key: links inside are fine
    vol.chmod(0o770)
    assert _walked(subpath.open_below(str(vol), "key")) == str(vol / "..2_0" / "key")
    assert _walked(subpath.open_below(str(vol), "a/b")) == str(vol / "a" / "b")
    assert stat.S_IMODE((vol / "a" / "b").stat().st_mode) == 0o770  # the volume's mode
    assert _walked(subpath.open_below("/", "tmp")) == "/tmp"


@pytest.mark.parametrize("swapped", ["d", "d/e"])
def test_a_symlink_swapped_in_after_the_check_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swapped: str) -> None:
    """The race of CVE-2017-1002101: the path is checked, then a container replaces a
    directory on it with a link to the host's root before it is opened."""
    vol = tmp_path / "vol"
    (vol / "d" / "e").mkdir(parents=True)
    checked = subpath._resolved

    def check_then_swap(base: str | Path, relative: str) -> tuple[str, list[str]]:
        found = checked(base, relative)
        (vol / swapped).rename(tmp_path / "moved")
        (vol / swapped).symlink_to("/")
        return found
    monkeypatch.setattr(subpath, "_resolved", check_then_swap)
    with pytest.raises(ContainerConfigError, match="changed while being mounted"):
        subpath.open_below(str(vol), "d/e")
