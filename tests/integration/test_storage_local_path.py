"""local-path storage end to end: a real api-server, the PV binder and protection
controllers and the scheduler in this process, a real agent (`minikube-py agent`) on
dockerd. A WaitForFirstConsumer claim is provisioned on the node its first pod lands
on, the data outlives the pod, pvc-protection holds the claim while a pod uses it, and
reclaim Delete removes the directory while Retain keeps it with the volume Released
(and after the volume object is deleted too); a StatefulSet's replicas each get their own
provisioned claim, which a replaced replica mounts again."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.images import BUSYBOX_IMAGE
from minikube_py.api.resources import (
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    STATEFULSETS,
    STORAGECLASSES,
)
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.client.tasks import background
from minikube_py.controllers.manager import run_controllers
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.scheduler.scheduler import Scheduler
from minikube_py.scheduler.settings import SchedulerSettings
from tests.fixtures.docker import CniNet
from tests.fixtures.node_agent import Agent, is_running
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]
CONTROLLERS = ("persistentvolume-binder", "pvc-protection", "pv-protection", "statefulset",
               "garbagecollector")


class Env:
    def __init__(self, client: ApiClient, root: Path, suffix: str) -> None:
        self.client, self.root, self.suffix = client, root, suffix

    async def storage_class(self, reclaim: str) -> str:
        name = f"lp-{reclaim.lower()}-{self.suffix}"
        await self.client.create(STORAGECLASSES, {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name}, "provisioner": "rancher.io/local-path",
            "reclaimPolicy": reclaim, "volumeBindingMode": "WaitForFirstConsumer",
            "parameters": {"nodePath": str(self.root)}})
        return name

    async def claim(self, name: str, storage_class: str) -> dict[str, Any]:
        return await self.client.create(PERSISTENTVOLUMECLAIMS, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": "64Mi"}}}})

    async def pod(self, claim: str, script: str) -> dict[str, Any]:
        pod = await self.client.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"user-{uuid.uuid4().hex[:6]}", "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": BUSYBOX_IMAGE,
                                     "command": ["sh", "-c", f"{script}; sleep 3600"],
                                     "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                     "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]}})

        async def running() -> bool:
            got = await self.client.get(PODS, pod["metadata"]["name"], "default")
            return is_running(got.get("status") or {})
        await eventually(running, 60, what=f"pod {pod['metadata']['name']} running")
        return pod

    async def delete_pod(self, pod: dict[str, Any]) -> None:
        await self.client.delete(PODS, pod["metadata"]["name"], "default")
        await self.gone(PODS, pod["metadata"]["name"], "default")

    async def gone(self, resource: Any, name: str, namespace: str | None = None,
                   timeout: float = 60) -> None:
        async def check() -> bool:
            try:
                await self.client.get(resource, name, namespace)
            except NotFound:
                return True
            return False
        await eventually(check, timeout, what=f"{resource.plural}/{name} gone")

    async def bound(self, claim: str) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            try:
                got = await self.client.get(PERSISTENTVOLUMECLAIMS, claim, "default")
            except NotFound:
                return None  # a StatefulSet's claim not made yet
            return got if (got.get("status") or {}).get("phase") == "Bound" else None
        bound: dict[str, Any] = await eventually(check, 60, what=f"claim {claim} bound")
        return bound


@pytest.fixture(scope="module")
def storage_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test StorageClasses' nodePath, which the agent knows as a storage root."""
    return tmp_path_factory.mktemp("volumes")


@pytest.fixture(scope="module")
def agent(apiserver: Any, busybox_image: str, cni_net_module: CniNet, storage_root: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    a = Agent(apiserver, cni_net_module, tmp_path_factory.mktemp("agent"),
              "--local-path-root", str(storage_root))
    a.start()
    try:
        yield a
    finally:
        a.stop_and_clean()


@pytest.fixture
async def env(apiserver: Any, agent: Agent, storage_root: Path) -> AsyncIterator[Env]:
    settings = ControllerManagerSettings(leader_election=None, controllers=CONTROLLERS)
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            background(run_controllers(client, settings), "controllers"), \
            background(Scheduler(client, SchedulerSettings(leader_election=None)).run(),
                       "scheduler"):
        yield Env(client, storage_root, uuid.uuid4().hex[:6])


async def test_provisioned_on_first_consumer_data_survives_and_delete_removes_it(
        env: Env, agent: Agent) -> None:
    sc = await env.storage_class("Delete")
    claim = f"data-{env.suffix}"
    await env.claim(claim, sc)
    await asyncio.sleep(1)
    pending = await env.client.get(PERSISTENTVOLUMECLAIMS, claim, "default")
    assert pending["status"]["phase"] == "Pending"  # WaitForFirstConsumer: nobody uses it
    writer = await env.pod(claim, "echo kept > /data/f")
    bound = await env.bound(claim)
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == agent.node
    volume = await env.client.get(PERSISTENTVOLUMES, bound["spec"]["volumeName"])
    directory = Path(volume["spec"]["hostPath"]["path"])
    assert directory.parent == env.root and (directory / "f").read_text() == "kept\n"
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] == [agent.node]
    await env.delete_pod(writer)
    reader = await env.pod(claim, "cat /data/f > /data/g")
    await eventually(lambda: (directory / "g").exists(), 10, what="the reader's copy")
    assert (directory / "g").read_text() == "kept\n"
    # pvc-protection: deleting the claim under a running pod waits for the pod.
    await env.client.delete(PERSISTENTVOLUMECLAIMS, claim, "default")
    await asyncio.sleep(2)
    held = await env.client.get(PERSISTENTVOLUMECLAIMS, claim, "default")
    assert held["metadata"]["deletionTimestamp"] and held["status"]["phase"] == "Bound"
    await env.delete_pod(reader)
    await env.gone(PERSISTENTVOLUMECLAIMS, claim, "default")
    await env.gone(PERSISTENTVOLUMES, volume["metadata"]["name"])  # Released, then Delete
    await eventually(lambda: not directory.exists(), 30, what="the agent's cleaner")
    await env.client.delete(STORAGECLASSES, sc)


async def test_retain_keeps_the_directory_and_the_volume_released(env: Env) -> None:
    sc = await env.storage_class("Retain")
    claim = f"keep-{env.suffix}"
    await env.claim(claim, sc)
    pod = await env.pod(claim, "echo kept > /data/f")
    volume_name = (await env.bound(claim))["spec"]["volumeName"]
    await env.delete_pod(pod)
    await env.client.delete(PERSISTENTVOLUMECLAIMS, claim, "default")
    await env.gone(PERSISTENTVOLUMECLAIMS, claim, "default")

    async def released() -> dict[str, Any] | None:
        got = await env.client.get(PERSISTENTVOLUMES, volume_name)
        return got if (got.get("status") or {}).get("phase") == "Released" else None
    volume = await eventually(released, 30, what="volume released")
    directory = Path(volume["spec"]["hostPath"]["path"])
    await env.client.delete(PERSISTENTVOLUMES, volume_name)
    await env.gone(PERSISTENTVOLUMES, volume_name)
    await asyncio.sleep(2)  # the agent saw the deletion: Retain data stays
    assert (directory / "f").read_text() == "kept\n"
    await env.client.delete(STORAGECLASSES, sc)


async def test_statefulset_replicas_keep_their_own_claims(env: Env) -> None:
    sc = await env.storage_class("Delete")
    name = f"db-{env.suffix}"
    await env.client.create(STATEFULSETS, {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 2, "serviceName": name, "podManagementPolicy": "Parallel",
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 1, "containers": [{
                         "name": "c", "image": BUSYBOX_IMAGE,
                         "command": ["sh", "-c", ("[ -f /data/id ] || hostname > /data/id; "
                                                 "cp /data/id /data/seen; sleep 3600")],
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "storageClassName": sc,
                     "resources": {"requests": {"storage": "16Mi"}}}}]}})
    directories = {}
    for ordinal in range(2):
        claim = await env.bound(f"data-{name}-{ordinal}")
        volume = await env.client.get(PERSISTENTVOLUMES, claim["spec"]["volumeName"])
        directories[ordinal] = Path(volume["spec"]["hostPath"]["path"])
        await eventually((directories[ordinal] / "seen").exists, 60,
                         what=f"replica {ordinal} wrote its id")
        assert (directories[ordinal] / "id").read_text() == f"{name}-{ordinal}\n"
    (directories[0] / "seen").unlink()
    first = await env.client.get(PODS, f"{name}-0", "default")
    await env.client.delete(PODS, f"{name}-0", "default")

    async def replaced() -> bool:
        try:
            pod = await env.client.get(PODS, f"{name}-0", "default")
        except NotFound:
            return False
        return pod["metadata"]["uid"] != first["metadata"]["uid"] and \
            (directories[0] / "seen").exists()
    await eventually(replaced, 60, what="replica 0 replaced on its old claim")
    assert (directories[0] / "seen").read_text() == f"{name}-0\n"
    await env.client.delete(STATEFULSETS, name, "default")
    for ordinal in range(2):
        await env.gone(PODS, f"{name}-{ordinal}", "default")
        await env.client.delete(PERSISTENTVOLUMECLAIMS, f"data-{name}-{ordinal}", "default")

    def reclaimed(directory: Path) -> bool:
        return not directory.exists()
    for directory in directories.values():
        await eventually(functools.partial(reclaimed, directory), 60, what="claims reclaimed")
    await env.client.delete(STORAGECLASSES, sc)


@pytest.mark.parametrize("where", ["outside-the-root", "through-a-link", "not-its-name"])
async def test_a_deleted_volume_naming_another_directory_removes_nothing(
        env: Env, tmp_path: Path, where: str) -> None:
    """A Delete-policy local-path volume whose path is not its own directory under a
    storage root (hand-written, or a link planted under the root) leaves that path alone."""
    name = f"pvc-{uuid.uuid4()}"
    victim = tmp_path / "victim"
    paths = {"outside-the-root": tmp_path / f"{name}_default_x",
             "through-a-link": env.root / f"link-{env.suffix}" / f"{name}_default_x",
             "not-its-name": env.root / f"pvc-{uuid.uuid4()}_default_x"}
    target = paths[where]
    if where == "through-a-link":
        (env.root / f"link-{env.suffix}").symlink_to(victim)
        target = victim / target.name
    target.mkdir(parents=True)
    (target / "precious").write_text("x")
    await env.client.create(PERSISTENTVOLUMES, {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name,
                     "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
        "spec": {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete",
                 "hostPath": {"path": str(paths[where])}}})
    await env.client.delete(PERSISTENTVOLUMES, name)
    await env.gone(PERSISTENTVOLUMES, name)
    await asyncio.sleep(2)  # the agent saw the deletion
    assert (target / "precious").read_text() == "x"
