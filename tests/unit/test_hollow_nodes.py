"""Hollow nodes over the fake client: a pod bound to a node before that node is alive
(registering, or silent) still runs once it is."""

from __future__ import annotations

import asyncio
from typing import cast

from agent.hollow import HollowNodes
from minikube_py.api.resources import PODS
from minikube_py.client import ApiClient
from tests.fixtures.builders import pod
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient


async def test_a_pod_bound_while_its_node_registered_runs() -> None:
    """Its only event came between the Node's create and the node's first Lease, when
    the node was not alive yet (a DaemonSet pod placed at once: seen in CI under load)."""
    client = FakeClient()
    nodes = HollowNodes(cast(ApiClient, client), prefix="h")
    early = pod("early", "ns", node="h-late")
    fill(nodes.pods, early)
    client.put(PODS, early)
    await nodes.add("late")
    await asyncio.gather(*nodes._tasks)
    assert client.held(PODS, "early", "ns")["status"]["phase"] == "Running"
