"""The scheduler's VolumeBinding filter and PreBind: bound claims pin pods to their
volume's nodes, WaitForFirstConsumer claims go where a volume can be had, unbound
Immediate claims and missing claims keep the pod Pending with Kubernetes' reasons;
PreBind writes the selected node on unbound claims and waits for them to be bound."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

import pytest

from minikube_py.client import ApiClient
from minikube_py.scheduler.algorithm import Algorithm, FitError
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo, pod_info
from minikube_py.scheduler.volumebinding import VolumeBinding
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient


def node(name: str) -> NodeInfo:
    info = NodeInfo(name)
    info.set_node(builders.node(name, labels={"kubernetes.io/hostname": name}))
    return info


NODES = [node("n1"), node("n2")]


def pinned(name: str, node_name: str, **kwargs: Any) -> dict[str, Any]:
    return builders.persistentvolume(name, spec={"nodeAffinity": {"required": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname",
                                                     "operator": "In",
                                                     "values": [node_name]}]}]}}}, **kwargs)


def using(*claims: str) -> PodInfo:
    pod = builders.pod("web", spec={"volumes": [
        {"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]})
    return pod_info(pod)


def binding(*objects: dict[str, Any]) -> tuple[VolumeBinding, FakeClient]:
    client = FakeClient()
    volumes = VolumeBinding(cast(ApiClient, client), bind_timeout=1.0)
    by_kind = {"PersistentVolumeClaim": volumes.claims, "PersistentVolume": volumes.volumes,
               "StorageClass": volumes.classes}
    for obj in objects:
        fill(by_kind[obj["kind"]], obj)
    return volumes, client


def place(volumes: VolumeBinding, pod: PodInfo) -> str:
    return Algorithm(volumes=volumes.filter).select(pod, NODES)


def test_bound_claim_pins_the_pod_to_its_volume_node() -> None:
    volumes, _ = binding(builders.persistentvolumeclaim(volume="pv-1", phase="Bound"),
                         pinned("pv-1", "n2"))
    assert {place(volumes, using("data")) for _ in range(10)} == {"n2"}


def test_wait_for_first_consumer_with_a_provisioner_fits_any_node() -> None:
    volumes, _ = binding(builders.persistentvolumeclaim(storage_class="local-path"),
                         builders.storageclass())
    assert place(volumes, using("data")) in ("n1", "n2")


def test_wait_for_first_consumer_static_volume_decides_the_node() -> None:
    volumes, _ = binding(builders.persistentvolumeclaim(storage_class="manual"),
                         builders.storageclass("manual", provisioner=""),
                         pinned("pv-1", "n1", storage_class="manual"))
    assert {place(volumes, using("data")) for _ in range(10)} == {"n1"}


@pytest.mark.parametrize(("objects", "message"), [
    pytest.param([], '0/2 nodes are available: 2 persistentvolumeclaim "data" not found.',
                 id="missing-claim"),
    pytest.param([builders.persistentvolumeclaim(storage_class="fast"),
                  builders.storageclass("fast", mode="Immediate")],
                 "0/2 nodes are available: 2 pod has unbound immediate "
                 "PersistentVolumeClaims.", id="unbound-immediate"),
    pytest.param([builders.persistentvolumeclaim(volume="pv-1"), pinned("pv-1", "n9")],
                 "0/2 nodes are available: 2 node(s) had volume node affinity conflict.",
                 id="affinity-conflict"),
    pytest.param([builders.persistentvolumeclaim(storage_class="manual"),
                  builders.storageclass("manual", provisioner="")],
                 "0/2 nodes are available: 2 node(s) didn't find available persistent "
                 "volumes to bind.", id="no-volume"),
])
def test_unsatisfiable_claims_keep_the_pod_pending(
        objects: list[dict[str, Any]], message: str) -> None:
    volumes, _ = binding(*objects)
    with pytest.raises(FitError) as e:
        place(volumes, using("data"))
    assert e.value.message == message
    assert e.value.reasons == Counter({message.split(": 2 ", 1)[1].rstrip("."): 2})


async def test_prebind_selects_the_node_and_waits_for_the_binder() -> None:
    claim = builders.persistentvolumeclaim(storage_class="local-path")
    volumes, client = binding(claim, builders.storageclass())
    client.put(volumes.claims.resource, claim)
    waiting = asyncio.create_task(volumes.prebind(cast(ApiClient, client), using("data"), "n2"))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert client.held(volumes.claims.resource, "data", "default")["metadata"][
        "annotations"] == {"volume.kubernetes.io/selected-node": "n2"}
    fill(volumes.claims, {**claim, "spec": {**claim["spec"], "volumeName": "pv-1"},
                          "status": {"phase": "Bound"}})
    await asyncio.wait_for(waiting, 1)


async def test_prebind_gives_up_after_the_bind_timeout() -> None:
    claim = builders.persistentvolumeclaim(storage_class="local-path")
    volumes, client = binding(claim, builders.storageclass())
    client.put(volumes.claims.resource, claim)
    with pytest.raises(TimeoutError):
        await volumes.prebind(cast(ApiClient, client), using("data"), "n1")
