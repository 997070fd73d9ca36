"""NFS volumes through a real agent: what can be tested on this kernel.

This VM's kernel has neither the NFS client nor nfsd (/proc/filesystems lists no nfs,
`mount -t nfsd` says "unknown filesystem type", mount.nfs says "No such device", no
modules to load), so no export can be mounted here. What is tested is the kubelet's
side: an inline nfs volume and a claim bound to an NFS PersistentVolume both reach
`mount -t nfs server:path <pod volume dir>`; a mount that fails is a FailedMount event
carrying mount's error, the pod waits in ContainerCreating and is retried, and deleting
it leaves no pod directory and no mount behind."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.resources import (
    EVENTS,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
)
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from tests.fixtures.node_agent import Agent, create, make_pod, status_when
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]
EXPORT = {"server": "127.0.0.1", "path": "/srv/mkp-nfs-test"}


async def _failed_mounts(api: ApiClient, name: str) -> list[dict[str, Any]]:
    items = (await api.list(EVENTS, "default"))["items"]
    return [e for e in items
            if e["involvedObject"].get("name") == name and e["reason"] == "FailedMount"]


def _mounts_under(path: Path) -> str:
    return subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True,
                          check=False).stdout if path.exists() else ""


async def _fails_to_mount_then_cleans_up(agent: Agent, api: ApiClient, pod: dict[str, Any],
                                         command: str) -> None:
    created = await create(api, pod)
    name, uid = created["metadata"]["name"], created["metadata"]["uid"]
    try:
        await _mount_fails(api, created, command)
    finally:
        await api.delete(PODS, name, "default")
    pod_dir = agent.state / "pods" / uid

    async def gone() -> bool:
        try:
            await api.get(PODS, name, "default")
        except NotFound:
            return not pod_dir.exists()
        return False
    await eventually(gone, 60, what="pod and its volume directory gone")
    assert str(pod_dir) not in _mounts_under(agent.state)


async def _mount_fails(api: ApiClient, created: dict[str, Any], command: str) -> None:
    name = created["metadata"]["name"]
    status = await status_when(api, created, lambda st: any(
        (c.get("state") or {}).get("waiting", {}).get("reason") == "ContainerCreating"
        for c in st.get("containerStatuses") or []), 60, "ContainerCreating")
    assert status["phase"] == "Pending"

    async def retried() -> list[dict[str, Any]] | None:
        events = await _failed_mounts(api, name)
        return events if events and max(e.get("count", 1) for e in events) >= 2 else None
    events = await eventually(retried, 60, what="FailedMount retried")
    message = events[0]["message"]
    assert message.startswith(f"{command} {EXPORT['server']}:{EXPORT['path']} "), message


async def test_inline_nfs_volume_mount_failure(agent: Agent, api: ApiClient) -> None:
    pod = make_pod(agent.node, [{"name": "c", "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "share", "mountPath": "/share"}]}],
                   volumes=[{"name": "share", "nfs": dict(EXPORT)}])
    await _fails_to_mount_then_cleans_up(agent, api, pod, "mount -t nfs")


async def test_claim_bound_to_an_nfs_volume_mount_failure(agent: Agent, api: ApiClient) -> None:
    suffix = uuid.uuid4().hex[:6]
    volume = await api.create(PERSISTENTVOLUMES, {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"nas-{suffix}"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                 "nfs": dict(EXPORT), "mountOptions": ["nfsvers=4.1"],
                 "claimRef": {"namespace": "default", "name": f"nas-{suffix}"}}})
    claim = await api.create(PERSISTENTVOLUMECLAIMS, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"nas-{suffix}", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "",
                 "volumeName": volume["metadata"]["name"],
                 "resources": {"requests": {"storage": "1Gi"}}}})
    await api.update(PERSISTENTVOLUMECLAIMS, {**claim, "status": {"phase": "Bound"}},
                     subresource="status")
    pod = make_pod(agent.node, [{"name": "c", "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
                   volumes=[{"name": "d", "persistentVolumeClaim": {
                       "claimName": f"nas-{suffix}", "readOnly": True}}])
    try:
        await _fails_to_mount_then_cleans_up(agent, api, pod, "mount -t nfs -o nfsvers=4.1")
    finally:
        for resource, name, ns in ((PERSISTENTVOLUMECLAIMS, f"nas-{suffix}", "default"),
                                   (PERSISTENTVOLUMES, f"nas-{suffix}", None)):
            await api.patch(resource, name, {"metadata": {"finalizers": None}}, ns)
            await api.delete(resource, name, ns)
