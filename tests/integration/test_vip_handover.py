"""A VIP holder whose own api-server died hands the Lease back through a peer (agent/vip.py)
against a real api-server: a refused port is "gone", a listening one is not, and the hand-over
skips a dead peer, clears only our own holder record and leaves another holder's alone."""

from __future__ import annotations

import asyncio
import socket
import uuid

from agent.vip import VipSettings, api_server_gone, hand_over
from minikube_py.api.meta import micro_time
from minikube_py.api.resources import LEASES
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
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
