"""Node IPAM against a real api-server: distinct subnets, release on delete, restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import cast

import pytest

from minikube_py.api.resources import NODES
from minikube_py.client import ApiClient
from minikube_py.controllers.nodeipam import NodeIpamController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.apiserver import ApiServer

pytestmark = pytest.mark.root


@contextlib.asynccontextmanager
async def running(client: ApiClient, cluster: str) -> AsyncIterator[NodeIpamController]:
    # the controller reads node_cidr_mask_size (not a settings field) with getattr
    settings = SimpleNamespace(cluster_cidr=cluster, node_cidr_mask_size=24)
    ctl = NodeIpamController(client, cast(ControllerManagerSettings, settings))
    task = asyncio.create_task(ctl.run(), name="nodeipam")
    try:
        yield ctl
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def cidrs(client: ApiClient, names: list[str], timeout: float = 20) -> dict[str, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        nodes = {n["metadata"]["name"]: n for n in (await client.list(NODES))["items"]}
        got = {name: (nodes.get(name, {}).get("spec") or {}).get("podCIDR") for name in names}
        if all(got.values()):
            return cast(dict[str, str], got)  # every value is set
        assert asyncio.get_running_loop().time() < deadline, f"no podCIDR yet: {got}"
        await asyncio.sleep(0.1)


async def test_subnets_distinct_released_on_delete_and_rebuilt_after_restart(
        apiserver: ApiServer) -> None:
    prefix = "ipam-"
    async with ApiClient.from_kubeconfig(str(apiserver.kubeconfig)) as client:
        try:
            async with running(client, "10.250.0.0/22") as _ctl:  # room for four nodes
                names = [f"{prefix}{i}" for i in range(4)]
                for name in names:
                    await client.create(NODES, {"metadata": {"name": name}})
                got = await cidrs(client, names)
                assert sorted(got.values()) == [f"10.250.{i}.0/24" for i in range(4)]
                node = await client.get(NODES, names[0])
                assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]

                await client.create(NODES, {"metadata": {"name": f"{prefix}late"}})
                await asyncio.sleep(1.0)
                late = await client.get(NODES, f"{prefix}late")
                assert not (late.get("spec") or {}).get("podCIDR")  # the range is full
                await client.delete(NODES, names[1])
                freed = got[names[1]]
                assert (await cidrs(client, [f"{prefix}late"]))[f"{prefix}late"] == freed

            # a new controller (restart) rebuilds from the Nodes: nothing handed out twice
            async with running(client, "10.250.0.0/22"):
                await client.delete(NODES, names[2])
                await client.create(NODES, {"metadata": {"name": f"{prefix}after"}})
                after = (await cidrs(client, [f"{prefix}after"]))[f"{prefix}after"]
                assert after == got[names[2]]
        finally:
            for node in (await client.list(NODES))["items"]:
                if node["metadata"]["name"].startswith(prefix):
                    with contextlib.suppress(Exception):
                        await client.delete(NODES, node["metadata"]["name"])
