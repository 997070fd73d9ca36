"""Pod startup latency: through the API and the agent vs. straight Docker + CNI.

    .venv/bin/python bench/pod_startup.py [--burst 30] [--idle-pods 20]

Starts a private api-server (embedded etcd) and a `minikube-py agent` for a private
node on the reference bridge + host-local CNI plugins, then measures:
  baseline  the same sandbox + CNI ADD + app container done directly against Docker
            (one pod alone; N at once from N threads),
  agent     pods created through the API until Running with an IP (one alone; N at
            once: p50, p99, wall),
and the agent's idle CPU and RSS with `--idle-pods` running pods. Prints ratios.
Everything it made (containers, bridge, processes, files) is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import psutil
from support import free_port

from agent.kubelet import labels as L
from agent.kubelet.images import BUSYBOX_IMAGE, PAUSE_COMMAND, PAUSE_IMAGE, ensure_local_images
from agent.kubelet.runtime import DockerRuntime
from minikube_py.api.resources import PODS
from minikube_py.client import ApiClient

CNI_BIN = "/usr/lib/cni"
SINGLES = 5  # one pod alone: median of this many, one after another


class Env:
    """A private api-server, CNI network and agent; torn down by `close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = f"bench-{uuid.uuid4().hex[:6]}"
        self.bridge = f"mkpb{uuid.uuid4().hex[:6]}"
        self.subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"
        self.procs: list[subprocess.Popen[bytes]] = []

    def conflist(self, name: str, data_dir: Path) -> dict[str, Any]:
        return {"cniVersion": "1.0.0", "name": name, "plugins": [{
            "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "subnet": self.subnet, "dataDir": str(data_dir)}}]}

    def start(self) -> None:
        conf = self.root / "net.d"
        conf.mkdir()
        (conf / "10-bench.conflist").write_text(json.dumps(
            self.conflist("bench", self.root / "ipam")))
        port = free_port()
        self._spawn("apiserver", "--data-dir", str(self.root / "api"), "--port", str(port))
        self.kubeconfig = self.root / "api" / "admin.conf"
        deadline = time.monotonic() + 60
        while not self.kubeconfig.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("api-server did not start")
            time.sleep(0.1)
        time.sleep(1)
        self._spawn("agent", "--kubeconfig", str(self.kubeconfig), "--node-name", self.node,
                    "--node-ip", "127.0.0.1", "--cni-conf-dir", str(conf), "--cni-bin-dir",
                    CNI_BIN, "--state-dir", str(self.root / "agent"), "--kubelet-port", "0",
                    "--no-proxy", "--no-overlay")
        self.agent = psutil.Process(self.procs[-1].pid)

    def _spawn(self, *args: str) -> None:
        log = open(self.root / f"{args[0]}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "minikube_py.cli.main", *args], stdout=log, stderr=log,
            stdin=subprocess.DEVNULL))

    def close(self) -> None:
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        client = docker.from_env()
        for label in (f"{L.NODE}={self.node}", f"bench={self.node}"):
            for c in client.api.containers(all=True, filters={"label": label}):
                client.api.remove_container(c["Id"], force=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(self.root / "agent" / "pods")], capture_output=True,
                       check=False)


def direct_pod(env: Env, dk: docker.APIClient, net_conf: bytes) -> float:
    """Sandbox + CNI ADD + app container straight against Docker: seconds to running."""
    t0 = time.perf_counter()
    tag = uuid.uuid4().hex[:8]
    labels = {"bench": env.node}
    sb = dk.create_container(PAUSE_IMAGE, command=PAUSE_COMMAND, name=f"bench-sb-{tag}",
                             hostname=f"b-{tag}", labels=labels,
                             host_config=dk.create_host_config(network_mode="none",
                                                               ipc_mode="shareable"))["Id"]
    dk.start(sb)
    pid = dk.inspect_container(sb)["State"]["Pid"]
    res = subprocess.run([f"{CNI_BIN}/bridge"], input=net_conf, capture_output=True, env={
        "CNI_COMMAND": "ADD", "CNI_CONTAINERID": sb, "CNI_NETNS": f"/proc/{pid}/ns/net",
        "CNI_IFNAME": "eth0", "CNI_PATH": CNI_BIN, "PATH": os.environ["PATH"]}, check=False)
    if res.returncode != 0:
        raise RuntimeError(res.stdout.decode())
    app = dk.create_container(BUSYBOX_IMAGE, command=["sleep", "3600"], name=f"bench-app-{tag}",
                              labels=labels, host_config=dk.create_host_config(
                                  network_mode=f"container:{sb}", ipc_mode=f"container:{sb}"))
    dk.start(app["Id"])
    return time.perf_counter() - t0


def baseline(env: Env, burst: int) -> tuple[float, list[float], float]:
    conf = env.conflist("direct", env.root / "ipam-direct")
    plugin = dict(conf["plugins"][0], name="direct", cniVersion="1.0.0")
    net_conf = json.dumps(plugin).encode()
    dk = docker.APIClient(max_pool_size=burst + 4)
    single = statistics.median(direct_pod(env, dk, net_conf) for _ in range(SINGLES))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(burst) as pool:
        times = list(pool.map(lambda _: direct_pod(env, dk, net_conf), range(burst)))
    return single, times, time.perf_counter() - t0


def pod(node: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [
                {"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}]}}


async def through_api(env: Env, names: list[str]) -> tuple[list[float], float]:
    """Create pods at once; seconds from create to Running-with-IP for each, and the wall."""
    async with ApiClient.from_kubeconfig(env.kubeconfig) as api:
        started: dict[str, float] = {}
        done: dict[str, float] = {}
        all_done = asyncio.Event()

        async def watch() -> None:
            async for _, obj in api.watch(PODS, "default", field_selector=f"spec.nodeName={env.node}"):
                st, name = obj.get("status") or {}, obj["metadata"]["name"]
                if name in started and name not in done and st.get("phase") == "Running" \
                        and st.get("podIP"):
                    done[name] = time.perf_counter()
                    if len(done) == len(names):
                        all_done.set()

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.3)

        async def create(name: str) -> None:
            started[name] = time.perf_counter()
            await api.create(PODS, pod(env.node, name))

        t0 = time.perf_counter()
        await asyncio.gather(*(create(n) for n in names))
        await asyncio.wait_for(all_done.wait(), 180)
        wall = time.perf_counter() - t0
        watcher.cancel()
        return [done[n] - started[n] for n in names], wall


async def wait_node_ready(env: Env) -> None:
    async with ApiClient.from_kubeconfig(env.kubeconfig) as api:
        for _ in range(300):
            with contextlib.suppress(Exception):  # not registered yet
                node = await api.request("GET", f"/api/v1/nodes/{env.node}")
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in node["status"]["conditions"]):
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("agent's node never became Ready")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--burst", type=int, default=30)
    ap.add_argument("--idle-pods", type=int, default=20)
    args = ap.parse_args()
    runtime = DockerRuntime(workers=2)
    await ensure_local_images(runtime)
    await runtime.close()
    root = Path(tempfile.mkdtemp(prefix="bench-pod-startup-"))
    env = Env(root)
    try:
        env.start()
        await wait_node_ready(env)
        b_single, b_times, b_wall = baseline(env, args.burst)
        a_single = statistics.median([(await through_api(env, [f"single-{i}"]))[0][0]
                                      for i in range(SINGLES)])
        await through_api(env, [f"warm-{i}" for i in range(3)])
        a_times, a_wall = await through_api(env, [f"burst-{i}" for i in range(args.burst)])
        extra = max(args.idle_pods - args.burst - SINGLES - 3, 0)
        if extra:
            await through_api(env, [f"idle-{i}" for i in range(extra)])
        await asyncio.sleep(5)
        env.agent.cpu_percent()
        await asyncio.sleep(10)
        cpu = env.agent.cpu_percent()
        rss = env.agent.memory_info().rss / 2**20
        running = len(docker.from_env().api.containers(
            filters={"label": [f"{L.NODE}={env.node}", f"{L.KIND}={L.APP}"]}))
        print(f"single pod (median of {SINGLES}):  direct {b_single:.3f}s  agent {a_single:.3f}s  "
              f"overhead {a_single - b_single:+.3f}s (goal <= +0.25s)")
        print(f"burst of {args.burst}: direct wall {b_wall:.2f}s p50 {statistics.median(b_times):.2f}s "
              f"p99 {pct(b_times, 99):.2f}s")
        print(f"burst of {args.burst}: agent  wall {a_wall:.2f}s p50 {statistics.median(a_times):.2f}s "
              f"p99 {pct(a_times, 99):.2f}s")
        print(f"burst wall ratio agent/direct: {a_wall / b_wall:.2f}x (goal <= 1.3x)")
        print(f"agent idle with {running} running pods: cpu {cpu:.1f}% rss {rss:.0f} MiB "
              f"(goal < 2%, < 150 MiB)")
    finally:
        env.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
