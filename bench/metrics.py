"""What serving resource metrics costs the agent: its CPU with a metrics server scraping it
against the same agent left alone.

    .venv/bin/python bench/metrics.py [--pods 50] [--window 60] [--pairs 3]

Starts a private api-server and a `minikube-py agent` (bench/pod_startup.py's Env), runs
`--pods` pods on it, then alternates windows: one with a real `minikube-py metrics-server`
(installed as `up` installs it, scraping /metrics/resource every 15 s), one without. The
agent's CPU (user + system of its process, in points of one core) is read over each
window; the order inside each pair alternates so a drift in the host's load does not
favour one side. Prints each pair and the median difference (goal < +1 point). The
metrics server's own figures are checked to cover every pod, so the scraped side really
is serving them. Everything it made is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import psutil
from support import alternated_rounds, free_port

from agent.kubelet.images import ensure_local_images
from agent.kubelet.runtime import DockerRuntime
from bench.pod_startup import Env, through_api, wait_node_ready
from minikube_py.client import ApiClient
from minikube_py.cluster import metrics_setup

RESOLUTION = "15"  # seconds: metrics-server's (and ours) default scrape interval


class MetricsServer:
    """A real metrics server for the bench's api-server; started and stopped per window."""

    def __init__(self, env: Env) -> None:
        self.env, self.port = env, free_port()
        self.dir = env.root / "metrics-server"
        self.proc: subprocess.Popen[bytes] | None = None

    async def install(self) -> None:
        self.dir.mkdir()
        api = self.env.root / "api"
        async with ApiClient.from_kubeconfig(self.env.kubeconfig) as client:
            await metrics_setup.install(
                client, server=client.server, ca_pem=(api / "pki" / "ca.crt").read_bytes(),
                pki_dir=api / "pki", kubeconfig=self.dir / "kubeconfig",
                cert=self.dir / "tls.crt", key=self.dir / "tls.key", address="127.0.0.1",
                port=self.port)

    def start(self) -> None:
        log = open(self.dir / "metrics-server.log", "ab")  # noqa: SIM115 - lives with it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minikube_py.cli.main", "metrics-server",
             "--kubeconfig", str(self.dir / "kubeconfig"),
             "--tls-cert-file", str(self.dir / "tls.crt"),
             "--tls-private-key-file", str(self.dir / "tls.key"),
             "--bind-address", "127.0.0.1", "--secure-port", str(self.port),
             "--metric-resolution", RESOLUTION, "--kubelet-insecure-tls"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


async def pods_measured(env: Env) -> int | str:
    """How many pods the metrics API has figures for, or why it cannot say."""
    async with ApiClient.from_kubeconfig(env.kubeconfig) as client:
        try:
            got = await client.request("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/"
                                              "default/pods")
        except Exception as e:  # noqa: BLE001 - not available yet: said if it stays so
            return str(e)
        return sum(1 for item in got.get("items") or [] if item.get("containers"))


def agent_cpu(agent: psutil.Process, seconds: float) -> float:
    """The agent's CPU over `seconds`, in points of one core."""
    before, t0 = agent.cpu_times(), time.monotonic()
    time.sleep(seconds)
    after, wall = agent.cpu_times(), time.monotonic() - t0
    used = (after.user - before.user) + (after.system - before.system)
    return 100 * used / wall


def close(env: Env) -> None:
    """env.close, again while dockerd is briefly away (a shared host's dockerd restarts):
    its containers and bridge must not be left behind."""
    for _ in range(24):
        try:
            env.close()
            return
        except docker.errors.DockerException:
            time.sleep(5)
    env.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per measurement")
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    runtime = DockerRuntime(workers=2)
    await ensure_local_images(runtime)
    await runtime.close()
    root = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    env = Env(root)
    server = MetricsServer(env)
    try:
        env.start()
        await wait_node_ready(env)
        for start in range(0, args.pods, 10):
            await through_api(env, [f"p-{i}" for i in range(start, min(start + 10, args.pods))])
        await server.install()
        server.start()  # once first: the scraped side must really have every pod's figures
        deadline = time.monotonic() + 90
        while (measured := await pods_measured(env)) != args.pods:
            if time.monotonic() > deadline:
                log = (server.dir / "metrics-server.log").read_text()[-2000:]
                raise RuntimeError(f"the metrics server never had every pod's figures: "
                                   f"{measured}; its log: {log}")
            await asyncio.sleep(2)
        server.stop()
        await asyncio.sleep(5)
        pairs: list[tuple[float, float]] = []
        for i, order in alternated_rounds(args.pairs, (False, True)):
            figures: dict[bool, float] = {}
            for scraped in order:
                if scraped:
                    server.start()
                    await asyncio.sleep(3)  # its start-up list and first scrape settle
                figures[scraped] = await asyncio.to_thread(agent_cpu, env.agent, args.window)
                server.stop()
            pairs.append((figures[False], figures[True]))
            print(f"pair {i + 1}: agent cpu without {figures[False]:.2f}%  scraped "
                  f"{figures[True]:.2f}%  difference {figures[True] - figures[False]:+.2f} "
                  f"points", flush=True)
        differences = [with_ - without for without, with_ in pairs]
        print(f"{args.pods} pods, scraped every {RESOLUTION} s, {args.window:.0f} s windows: "
              f"agent cpu without {statistics.median(p[0] for p in pairs):.2f}%, scraped "
              f"{statistics.median(p[1] for p in pairs):.2f}%; median difference "
              f"{statistics.median(differences):+.2f} points, max {max(differences):+.2f} "
              f"(goal < +1 point)")
    finally:
        server.stop()
        close(env)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
