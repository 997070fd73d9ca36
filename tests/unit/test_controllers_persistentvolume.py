"""The PV binder: its matching table, local-path naming (no traversal through a name),
binding both ways, provisioning on the selected node, release and reclaim; the pvc-
and pv-protection controllers let go of a finalizer only when nothing uses the object."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from minikube_py.api.volumematch import best_match
from minikube_py.api.volumes import SELECTED_NODE
from minikube_py.controllers import localpath
from minikube_py.controllers.persistentvolume import PersistentVolumeController
from minikube_py.controllers.volume_protection import (
    PVCProtectionController,
    PVProtectionController,
)
from tests.fixtures import builders
from tests.fixtures.builders import persistentvolume as pv
from tests.fixtures.builders import persistentvolumeclaim as pvc
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import recorded

NODE = builders.node("n1")
NODE["metadata"]["labels"] = {"kubernetes.io/hostname": "n1"}
ON_N2 = {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}}}


@pytest.mark.parametrize(("volumes", "claim", "chosen"), [
    pytest.param([pv("small", size="1Gi"), pv("big", size="10Gi")], pvc(size="500Mi"),
                 "small", id="smallest-that-fits"),
    pytest.param([pv("small", size="100Mi")], pvc(size="1Gi"), None, id="too-small"),
    pytest.param([pv("rox", modes=["ReadOnlyMany"])], pvc(), None, id="access-modes"),
    pytest.param([pv("both", modes=["ReadWriteOnce", "ReadOnlyMany"])], pvc(), "both",
                 id="access-modes-superset"),
    pytest.param([pv("fast", storage_class="fast")], pvc(), None, id="class-empty-vs-set"),
    pytest.param([pv("fast", storage_class="fast")], pvc(storage_class="fast"), "fast",
                 id="class-equal"),
    pytest.param([pv("taken", claim=pvc("other"))], pvc(), None, id="bound-to-another"),
    pytest.param([pv("a"), pv("mine", size="5Gi", claim=pvc())], pvc(), "mine",
                 id="prebound-wins"),
    pytest.param([pv("a"), pv("b")], pvc(volume="b"), "b", id="volume-name"),
    pytest.param([pv("plain"), pv("ssd", labels={"disk": "ssd"})],
                 pvc(spec={"selector": {"matchLabels": {"disk": "ssd"}}}), "ssd",
                 id="selector"),
    pytest.param([pv("block", spec={"volumeMode": "Block"})], pvc(), None, id="volume-mode"),
    pytest.param([pv("gone", deletion_timestamp="2026-01-01T00:00:00Z")], pvc(), None,
                 id="being-deleted"),
])
def test_matching_table(volumes: list[dict[str, Any]], claim: dict[str, Any],
                        chosen: str | None) -> None:
    match = best_match(volumes, claim)
    assert (match["metadata"]["name"] if match else None) == chosen


def test_matching_honours_the_chosen_node() -> None:
    elsewhere = pv("n2-only", spec=ON_N2)
    assert best_match([elsewhere], pvc(), NODE, check_node=True) is None
    assert best_match([elsewhere], pvc()) is elsewhere


@pytest.mark.parametrize(("namespace", "name"), [
    ("default", "data"), ("..", ".."), ("a/../../etc", "x/../../root"), ("ns", "..hidden")])
def test_local_path_directory_cannot_leave_the_root(namespace: str, name: str) -> None:
    claim = pvc(name, namespace, uid="../../u")
    path = localpath.directory("/var/lib/minikube-py/storage/", claim)
    head, _, leaf = path.rpartition("/")
    assert head == "/var/lib/minikube-py/storage"
    assert leaf not in ("", ".", "..") and ".." not in leaf.split("_")
    assert leaf.startswith("pvc-")


def _writes(client: FakeClient) -> list[tuple[str, str, str]]:
    return client.summary()


async def test_binds_a_claim_and_volume_both_ways() -> None:
    claim, volume = pvc(), pv()
    c, client = start(PersistentVolumeController, claim, volume)
    await c.sync(("claim", "default/data"))
    assert _writes(client) == [
        ("update", "persistentvolumes", "pv-1"), ("update", "persistentvolumes/status", "pv-1"),
        ("update", "persistentvolumeclaims", "data"),
        ("update", "persistentvolumeclaims/status", "data")]
    stored_volume = client.held(c.volumes.resource, "pv-1")
    assert stored_volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert stored_volume["status"]["phase"] == "Bound"
    stored_claim = client.held(c.claims.resource, "data", "default")
    assert stored_claim["spec"]["volumeName"] == "pv-1"
    assert stored_claim["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                                      "capacity": {"storage": "1Gi"}}


async def test_claims_synced_together_reserve_different_volumes() -> None:
    """The volume a claim is binding is reserved before the write goes out, so a claim
    synced meanwhile (another worker) takes the next volume instead of conflicting."""
    c, client = start(PersistentVolumeController, pvc("a", uid="ua"), pvc("b", uid="ub"),
                      pv("pv-1"), pv("pv-2"))
    write = client.update

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)  # a real write yields: the other claim's sync runs meanwhile
        return await write(*args, **kwargs)

    client.update = slow  # type: ignore[method-assign]  # this test's slower write
    await asyncio.gather(c.sync(("claim", "default/a")), c.sync(("claim", "default/b")))
    refs = {client.held(c.volumes.resource, n)["spec"]["claimRef"]["name"]
            for n in ("pv-1", "pv-2")}
    assert refs == {"a", "b"}


async def test_wait_for_first_consumer_then_provision_on_the_selected_node() -> None:
    sc = builders.storageclass(parameters={"nodePath": "/data/volumes"})
    claim = pvc(storage_class="local-path")
    c, client = start(PersistentVolumeController, claim, sc, NODE)
    await c.sync(("claim", "default/data"))
    assert _writes(client) == []
    assert client.events()[-1][1:] == (
        "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
    claim["metadata"]["annotations"] = {SELECTED_NODE: "n1"}
    await c.sync(("claim", "default/data"))
    made = client.writes[-1].body
    assert client.writes[-1].verb == "create" and made["metadata"]["name"] == \
        f"pvc-{claim['metadata']['uid']}"
    assert made["spec"]["hostPath"] == {
        "path": f"/data/volumes/pvc-{claim['metadata']['uid']}_default_data",
        "type": "DirectoryOrCreate"}
    assert made["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] == ["n1"]
    assert made["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert made["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert client.events()[-1][1] == "ProvisioningSucceeded"


@pytest.mark.parametrize(("claim", "objects", "reason"), [
    pytest.param(pvc(storage_class="missing"), [], "ProvisioningFailed", id="unknown-class"),
    pytest.param(pvc(), [], "FailedBinding", id="no-class-no-volume"),
    pytest.param(pvc(storage_class="nas"), [builders.storageclass(
        "nas", provisioner="example.com/nfs", mode="Immediate")], "ExternalProvisioning",
        id="external-provisioner"),
])
async def test_claims_that_cannot_be_provisioned_say_why(
        claim: dict[str, Any], objects: list[dict[str, Any]], reason: str) -> None:
    c, client = start(PersistentVolumeController, claim, *objects)
    await c.sync(("claim", "default/data"))
    assert _writes(client) == []
    assert client.events()[-1][1] == reason


@pytest.mark.parametrize(("reclaim", "writes"), [
    pytest.param("Retain", [], id="retain-stays-released"),
    pytest.param("Delete", [("delete", "persistentvolumes", "pv-1")], id="delete"),
])
async def test_a_volume_whose_claim_is_gone_is_released_then_reclaimed(
        reclaim: str, writes: list[tuple[str, str, str]]) -> None:
    volume = pv(claim=pvc(), phase="Bound", reclaim=reclaim,
                annotations={localpath.PROVISIONED_BY: "rancher.io/local-path"})
    c, client = start(PersistentVolumeController, volume)
    await c.sync(("volume", "pv-1"))
    assert _writes(client) == [("update", "persistentvolumes/status", "pv-1")]
    assert client.held(c.volumes.resource, "pv-1")["status"]["phase"] == "Released"
    c.volumes.cache.put("pv-1", client.held(c.volumes.resource, "pv-1"))
    await c.sync(("volume", "pv-1"))
    assert _writes(client)[1:] == writes


async def test_a_lost_volume_makes_its_bound_claim_lost() -> None:
    c, client = start(PersistentVolumeController, pvc(volume="pv-gone", phase="Bound"))
    await c.sync(("claim", "default/data"))
    assert client.held(c.claims.resource, "data", "default")["status"]["phase"] == "Lost"


DELETED_AT = "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(("pods", "released"), [
    pytest.param([], True, id="unused"),
    pytest.param([builders.pod("user", phase="Running")], False, id="running-pod"),
    pytest.param([builders.pod("done", phase="Succeeded")], True, id="finished-pod"),
])
async def test_pvc_protection(pods: list[dict[str, Any]], released: bool) -> None:
    for pod in pods:
        pod["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    claim = pvc(finalizers=["kubernetes.io/pvc-protection"], deletion_timestamp=DELETED_AT)
    c, client = start(PVCProtectionController, claim, *pods)
    await c.sync("default/data")
    stored = client.held(c.claims.resource, "data", "default")
    assert (stored["metadata"]["finalizers"] == []) is released


@pytest.mark.parametrize(("phase", "released"), [("Bound", False), ("Released", True)])
async def test_pv_protection(phase: str, released: bool) -> None:
    volume = pv(phase=phase, finalizers=["kubernetes.io/pv-protection"],
                deletion_timestamp=DELETED_AT)
    c, client = start(PVProtectionController, volume)
    await c.sync("pv-1")
    assert (client.held(c.volumes.resource, "pv-1")["metadata"]["finalizers"] == []) is \
        released


async def test_a_volume_prebound_by_name_waits_available_for_its_claim() -> None:
    volume = pv(phase="Pending")
    volume["spec"]["claimRef"] = {"namespace": "default", "name": "later"}
    c, client = start(PersistentVolumeController, volume)
    await c.sync(("volume", "pv-1"))
    assert client.held(c.volumes.resource, "pv-1")["status"]["phase"] == "Available"


async def test_a_claim_naming_a_volume_not_there_yet_binds_once_it_comes() -> None:
    """A claim created with spec.volumeName before its volume waits; the volume's arrival
    (no claimRef: nothing else names the claim) must queue it, as nothing resyncs."""
    claim = pvc(volume="pv-1")
    c, client = start(PersistentVolumeController, claim)
    await c.sync(("claim", "default/data"))
    assert _writes(client) == []
    volume = pv()
    client.put(c.volumes.resource, volume)
    c.volumes.apply("ADDED", volume)
    assert ("claim", "default/data") in recorded(c.queue).added
    await c.sync(("claim", "default/data"))
    assert client.held(c.claims.resource, "data", "default")["status"]["phase"] == "Bound"
