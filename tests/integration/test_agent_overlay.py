"""The agent's overlay loop with a real api-server and two namespace nodes.

Each node's Overlay runs in this process, its host work on a thread that
lives in the node's namespace (the executor seam); the API is reached from
the host namespace. Pods are wired by exec'ing the CNI executable the overlay
installed, with the conflist it wrote, as a runtime would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent import cni_config
from agent.overlay import PUBLIC_IP, VTEP_MAC, Overlay, cleanup
from agent.settings import AgentSettings
from cni_plugins import overlay
from cni_plugins.nsutil import open_iproute, setns
from minikube_py.api.resources import NODES
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.netns import Netns
from tests.helpers import eventually, first_line, nc_listener

pytestmark = pytest.mark.root


def executor_in(ns: Netns) -> ThreadPoolExecutor:
    def enter() -> None:
        fd = os.open(ns.path, os.O_RDONLY)
        try:
            setns(fd)  # this worker thread stays in the node namespace
        finally:
            os.close(fd)
    return ThreadPoolExecutor(1, thread_name_prefix=f"overlay-{ns.name}", initializer=enter)


def add_pod(ns: Netns, settings: AgentSettings, pod: Netns) -> str:
    network = json.loads((Path(settings.cni_conf_dir) / cni_config.CONF_NAME).read_text())
    conf = {"cniVersion": network["cniVersion"], "name": network["name"],
            **network["plugins"][0]}
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": pod.name, "CNI_NETNS": pod.path,
           "CNI_IFNAME": "eth0", "CNI_PATH": ":".join(settings.cni_bin_dirs),
           "PATH": os.environ["PATH"]}
    plugin = Path(settings.cni_bin_dirs[0]) / conf["type"]
    proc = subprocess.run(["ip", "netns", "exec", ns.name, str(plugin)],
                          input=json.dumps(conf).encode(), env=env, capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(json.loads(proc.stdout)["ips"][0]["address"]).split("/")[0]


def state(ns: Netns) -> str:
    with open_iproute(ns.path) as ipr:
        index = ipr.link_lookup(ifname=overlay.DEVICE)
        return overlay.render(overlay.actual(ipr, index[0])) if index else "<no device>"


async def until(check: Callable[[], object], timeout: float = 20, what: str = "condition") -> None:
    """Poll a blocking check off the loop (pyroute2's sync API refuses a running loop)."""
    await eventually(lambda: asyncio.to_thread(check), timeout, what=what)


async def test_two_agents_wire_pods_across_the_overlay(
        apiserver: ApiServer, netns: Callable[..., Netns], tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    spec = {"a": ("10.244.1.0/24", "172.31.252.1"), "b": ("10.244.2.0/24", "172.31.252.2")}
    nodes = {k: netns(f"ov{k}") for k in spec}
    await asyncio.to_thread(subprocess.run, [
        "ip", "link", "add", "u0", "netns", nodes["a"].name, "type", "veth", "peer", "name", "u0",
        "netns", nodes["b"].name], check=True)
    settings = {}
    for k, (_, ip) in spec.items():
        nodes[k].run("ip", "addr", "add", f"{ip}/24", "dev", "u0")
        nodes[k].run("ip", "link", "set", "u0", "up")
        settings[k] = AgentSettings(
            kubeconfig=str(apiserver.kubeconfig), node_name=f"ovl-{k}-{tag}", iface="u0",
            cni_conf_dir=str(tmp_path / k / "net.d"),
            cni_bin_dirs=[str(tmp_path / k / "bin"), "/usr/lib/cni"],
            state_dir=str(tmp_path / k / "state"), resync_period=1.0)
    async with ApiClient.from_kubeconfig(str(apiserver.kubeconfig)) as client:
        tasks = []
        executors = [executor_in(nodes[k]) for k in spec]
        try:
            for k, (cidr, _) in spec.items():
                await client.create(NODES, {"metadata": {"name": settings[k].node_name},
                                            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
            for k, ex in zip(spec, executors):
                tasks.append(asyncio.create_task(
                    Overlay(client, settings[k], executor=ex).run(), name=f"overlay-{k}"))
            for k in spec:
                await until((Path(settings[k].cni_conf_dir) / cni_config.CONF_NAME).exists,
                            what="conflist")
            for _ in range(200):  # the annotations follow the local setup
                b_node = await client.get(NODES, settings["b"].node_name)
                if PUBLIC_IP in (b_node["metadata"].get("annotations") or {}):
                    break
                await asyncio.sleep(0.1)
            assert b_node["metadata"]["annotations"][PUBLIC_IP] == "172.31.252.2"
            b_mac = b_node["metadata"]["annotations"][VTEP_MAC]
            await until(lambda: "route 10.244.2.0/24" in state(nodes["a"]), what="remote route")
            assert f"fdb {b_mac} dev mkp.vxlan dst 172.31.252.2" in \
                await asyncio.to_thread(state, nodes["a"])

            pods = {k: netns(f"ov{k}pod") for k in spec}
            ips = {k: await asyncio.to_thread(add_pod, nodes[k], settings[k], pods[k])
                   for k in spec}
            assert ips["b"].startswith("10.244.2.")
            server = pods["b"].popen(*nc_listener(7100), stdout=subprocess.PIPE)
            await asyncio.to_thread(pods["b"].wait_listening, 7100)
            await asyncio.to_thread(pods["a"].run, "sh", "-c",
                                    f"echo across-the-overlay | busybox nc -w 3 {ips['b']} 7100")
            assert await asyncio.to_thread(first_line, server) == "across-the-overlay"

            nodes["a"].run("ip", "route", "del", "10.244.2.0/24")
            await until(lambda: "route 10.244.2.0/24" in state(nodes["a"]), timeout=10,
                        what="route restored by the periodic reconcile")

            nodes["a"].run("ip", "link", "del", overlay.DEVICE)
            await until(lambda: "route 10.244.2.0/24" in state(nodes["a"]), timeout=10,
                        what="device and entries recreated")
            assert pods["a"].ping(ips["b"])

            await client.delete(NODES, settings["b"].node_name)
            await until(lambda: state(nodes["a"]) == "", what="node B's entries removed")

            tasks[0].cancel()  # node A's agent stops; `down` then removes what it made
            await asyncio.gather(tasks[0], return_exceptions=True)
            await asyncio.get_running_loop().run_in_executor(executors[0], cleanup, settings["a"])
            links = nodes["a"].run("ip", "-o", "link").stdout
            assert overlay.DEVICE not in links and "cni0" not in links
            assert "MKP-" not in nodes["a"].run("iptables-save").stdout
            assert not (Path(settings["a"].cni_conf_dir) / cni_config.CONF_NAME).exists()
            assert not Path(cni_config.socket_path(settings["a"])).exists()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for ex in executors:
                ex.shutdown(wait=True)
            for k in spec:
                with contextlib.suppress(Exception):
                    await client.delete(NODES, settings[k].node_name)
