"""The kubelet's persistentVolumeClaim volumes: the bound volume's hostPath is made and
bound (read-only when the claim volume says so); a missing, unbound or unmountable
claim is a ContainerConfigError (the FailedMount event's text)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.source import DictSource
from agent.kubelet.volumes import VolumeManager
from minikube_py.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES
from tests.fixtures import builders


def _pod(read_only: bool = False) -> dict[str, Any]:
    pod = builders.pod("web", spec={"volumes": [{"name": "d", "persistentVolumeClaim": {
        "claimName": "data", "readOnly": read_only}}]})
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    return pod


def _manager(tmp_path: Path, *, bound: bool = True, spec: dict[str, Any] | None = None,
             annotations: dict[str, str] | None = None) -> VolumeManager:
    volume = builders.persistentvolume("pv-1", spec=spec or {
        "hostPath": {"path": str(tmp_path / "vol" / "pvc-1"), "type": "DirectoryOrCreate"}},
        annotations=annotations or {})
    claim = builders.persistentvolumeclaim(volume="pv-1" if bound else None,
                                           phase="Bound" if bound else "Pending")
    return VolumeManager(tmp_path / "state", DictSource([
        (PERSISTENTVOLUMES, volume), (PERSISTENTVOLUMECLAIMS, claim)]))


@pytest.mark.parametrize("read_only", [False, True])
async def test_claim_binds_its_volume_directory(tmp_path: Path, read_only: bool) -> None:
    manager = _manager(tmp_path)
    pod = _pod(read_only)
    paths = await manager.prepare(pod)
    assert paths == {"d": str(tmp_path / "vol" / "pvc-1")}
    assert (tmp_path / "vol" / "pvc-1").is_dir()  # DirectoryOrCreate: made on first mount
    mode = "ro" if read_only else "rw"
    assert manager.binds(pod, pod["spec"]["containers"][0], paths, {}) == [
        f"{tmp_path / 'vol' / 'pvc-1'}:/data:{mode}"]


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"bound": False}, 'persistentvolumeclaim "data" is not bound', id="unbound"),
    pytest.param({"spec": {"hostPath": None, "local": {"path": "/nonexistent/disk"}}},
                 "local volume pv-1: /nonexistent/disk does not exist", id="local-missing"),
    pytest.param({"spec": {"hostPath": None, "csi": {"driver": "x"}}},
                 'persistentvolume "pv-1": unsupported volume type', id="unsupported"),
])
async def test_claims_that_cannot_be_mounted(
        tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ContainerConfigError, match=message):
        await _manager(tmp_path, **kwargs).prepare(_pod())


async def test_missing_claim(tmp_path: Path) -> None:
    manager = VolumeManager(tmp_path, DictSource())
    with pytest.raises(ContainerConfigError, match='persistentvolumeclaim "data" not found'):
        await manager.prepare(_pod())


@pytest.mark.parametrize(("provisioner", "owned"), [
    pytest.param("rancher.io/local-path", True, id="local-path"),
    pytest.param(None, False, id="plain-hostPath"),  # as Kubernetes: hostPath has no fsGroup
])
async def test_local_path_volumes_belong_to_the_pods_fs_group(
        tmp_path: Path, provisioner: str | None, owned: bool) -> None:
    group = 2000 if os.geteuid() == 0 else os.getgid()  # not root: one of our own groups
    pod = _pod()
    pod["spec"]["securityContext"] = {"fsGroup": group}
    directory = tmp_path / "vol" / "pvc-1"
    directory.mkdir(parents=True)
    (directory / "old").write_text("x")
    (directory / "old").chmod(0o600)
    manager = _manager(tmp_path, annotations={"pv.kubernetes.io/provisioned-by": provisioner}
                       if provisioner else None)
    await manager.prepare(pod)
    made = directory.stat()
    assert (made.st_gid == group and made.st_mode & 0o7777 == 0o2775) is owned
    assert ((directory / "old").stat().st_mode & 0o777 == 0o660) is owned
    directory.chmod(0o755)
    await manager.prepare(pod)  # set up once per pod: a resync does not walk it again
    assert directory.stat().st_mode & 0o7777 == 0o755
