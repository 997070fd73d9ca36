"""A VIP holder whose own api-server died hands the Lease back through a peer (agent/vip.py)
against a real api-server: a refused port is "gone", a listening one is not, and the hand-over
skips a dead peer, clears only our own holder record and leaves another holder's alone."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from agent.vip import VipSettings, api_server_gone, hand_over
from minikube_py.api.lease import VIP_LEASE
from minikube_py.api.meta import micro_time
from minikube_py.api.resources import LEASES, SECRETS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import Forbidden
from minikube_py.client.leaderelection import LeaderElector
from tests.fixtures.apiserver import ApiServer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lease(name: str, holder: str) -> Object:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 5,
                     "renewTime": micro_time(), "acquireTime": micro_time()}}


async def test_gone_means_refused(apiserver: ApiServer) -> None:
    assert await api_server_gone(f"https://127.0.0.1:{closed_port()}")
    assert not await api_server_gone(apiserver.url)


async def test_hand_over_through_a_live_peer(apiserver: ApiServer) -> None:
    name = f"vip-{uuid.uuid4().hex[:8]}"
    dead = f"https://127.0.0.1:{closed_port()}"
    settings = VipSettings(kubeconfig=str(apiserver.kubeconfig), address="192.0.2.1",
                           interface="lo", lease_name=name, peers=(dead, apiserver.url))
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        await client.create(LEASES, lease(name, "cp1"), "kube-system")
        try:
            await asyncio.wait_for(hand_over(settings, "cp2"), 20)  # not ours: untouched
            spec = (await client.get(LEASES, name, "kube-system"))["spec"]
            assert spec["holderIdentity"] == "cp1"
            await asyncio.wait_for(hand_over(settings, "cp1"), 20)
            spec = (await client.get(LEASES, name, "kube-system"))["spec"]
            assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
        finally:
            await client.delete(LEASES, name, "kube-system")


async def test_the_vip_runs_as_system_kube_vip_with_only_its_lease(apiserver: ApiServer) -> None:
    """vip.conf, which the api-server writes beside scheduler.conf: the VIP's own identity
    follows, takes and hands back kube-vip's Lease, and may do nothing else (it ran with
    admin.conf: system:masters)."""
    vip_conf = apiserver.data_dir / "vip.conf"
    settings = VipSettings(kubeconfig=str(vip_conf), address="192.0.2.1", interface="lo",
                           peers=(apiserver.url,))
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as admin, \
            ApiClient.from_kubeconfig(vip_conf) as client:
        review = await client.request(
            "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert review["status"]["userInfo"]["username"] == "system:kube-vip"
        await admin.create(LEASES, lease(VIP_LEASE, "cp1"), "kube-system")
        try:
            events = client.watch(LEASES, "kube-system", timeout_seconds=30,
                                  field_selector=f"metadata.name={VIP_LEASE}")
            kind, held = await asyncio.wait_for(anext(events), 10)  # the state: followed
            assert (kind, held["spec"]["holderIdentity"]) == ("ADDED", "cp1")
            await hand_over(settings, "cp1")
            kind, handed = await asyncio.wait_for(anext(events), 10)
            await events.aclose()
            assert (kind, handed["spec"]["holderIdentity"]) == ("MODIFIED", "")
            elector = LeaderElector(client, name=VIP_LEASE, identity="cp2", lease_duration=5,
                                    renew_deadline=3, retry_period=1, watch=True)
            await asyncio.wait_for(elector.run(lambda: asyncio.sleep(0)), 20)  # took, released
            spec = (await admin.get(LEASES, VIP_LEASE, "kube-system"))["spec"]
            assert spec["holderIdentity"] == "" and spec["leaseTransitions"] >= 1
            for forbidden in (client.list(SECRETS, "kube-system"),
                              client.get(LEASES, "kube-controller-manager", "kube-system"),
                              client.list(LEASES, "kube-system")):
                with pytest.raises(Forbidden):
                    await forbidden
        finally:
            await admin.delete(LEASES, VIP_LEASE, "kube-system")
