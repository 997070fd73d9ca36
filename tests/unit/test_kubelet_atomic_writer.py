"""The kubelet's atomic writer: payload swapped whole, removed keys dropped, an unchanged
payload left alone, and each file with its own mode and owner, as the pod's volumes say."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from agent.kubelet.atomic_writer import FileProjection as F
from agent.kubelet.atomic_writer import write_atomic
from agent.kubelet.source import DictSource
from agent.kubelet.volumes import VolumeManager
from minikube_py.api.resources import CONFIGMAPS, SERVICEACCOUNTS


def test_atomic_writer_swaps_data_and_drops_removed_keys(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    write_atomic(target, {"a": F(b"1"), "dir/b": F(b"2")})
    assert (target / "a").read_bytes() == b"1" and (target / "dir" / "b").read_bytes() == b"2"
    first = (target / "..data").resolve()
    write_atomic(target, {"a": F(b"3")})
    assert (target / "a").read_bytes() == b"3"
    assert not (target / "dir").exists() and not first.exists()
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..")) == ["a"]


def test_atomic_writer_leaves_an_unchanged_payload_alone(tmp_path: Path) -> None:
    assert write_atomic(tmp_path, {"a": F(b"1")})
    payload = (tmp_path / "..data").resolve()
    assert not write_atomic(tmp_path, {"a": F(b"1")})
    assert (tmp_path / "..data").resolve() == payload


def test_each_file_gets_its_mode_and_owner_and_a_new_one_is_a_change(tmp_path: Path) -> None:
    uid = 1234 if os.geteuid() == 0 else os.geteuid()  # chown to another user needs root
    assert write_atomic(tmp_path, {"key": F(b"1", 0o400), "token": F(b"t", 0o600, uid)})
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o400
    token = (tmp_path / "token").stat()
    assert stat.S_IMODE(token.st_mode) == 0o600
    assert token.st_uid == uid
    assert write_atomic(tmp_path, {"key": F(b"1", 0o440), "token": F(b"t", 0o600, uid)})
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o440


def _modes(root: Path) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in root.iterdir()
            if not p.name.startswith("..")}


async def test_volume_files_take_item_modes_then_default_modes(tmp_path: Path) -> None:
    """As kubelet: an item's mode, else the volume's defaultMode (a projected volume's for
    every source), else 0644; a token is 0600 once the pod has an fsGroup (or one user)."""
    source = DictSource([(CONFIGMAPS, {"metadata": {"name": "c", "namespace": "ns"},
                                       "data": {"a": "1", "b": "2"}}),
                         (SERVICEACCOUNTS, {"metadata": {"name": "default",
                                                         "namespace": "ns"}})])
    volumes = VolumeManager(tmp_path, source)
    pod: dict[str, Any] = {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"}, "spec": {
        "containers": [{"name": "c"}], "volumes": [
            {"name": "plain", "configMap": {"name": "c"}},
            {"name": "items", "configMap": {"name": "c", "defaultMode": 0o440, "items": [
                {"key": "a", "path": "a", "mode": 0o400}, {"key": "b", "path": "b"}]}},
            {"name": "proj", "projected": {"defaultMode": 0o444, "sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"configMap": {"name": "c", "items": [{"key": "a", "path": "a"}]}},
                {"downwardAPI": {"items": [{"path": "name", "mode": 0o400,
                                            "fieldRef": {"fieldPath": "metadata.name"}}]}}]}}]}}
    paths = await volumes.prepare(pod)
    assert _modes(Path(paths["plain"])) == {"a": "0o644", "b": "0o644"}
    assert _modes(Path(paths["items"])) == {"a": "0o400", "b": "0o440"}
    assert _modes(Path(paths["proj"])) == {"token": "0o444", "a": "0o444", "name": "0o400"}
    pod["spec"]["securityContext"] = {"fsGroup": os.getegid()}
    paths = await VolumeManager(tmp_path, source).prepare(pod)
    assert _modes(Path(paths["proj"]))["token"] == "0o640"  # 0600, then the group's read
