"""kubectl exec through the api-server and the agent: SPDY/3.1 (kubectl 1.20) and
WebSocket (kubectl 1.32) against `docker exec` straight to Docker.

    .venv/bin/python bench/exec_stream.py [--mib 32] [--runs 3]

Starts a private api-server and agent (bench/pod_startup.py's Env), one busybox pod,
then measures, median of --runs, in the same run:
  latency     `exec -- true` (a whole kubectl process: connect, upgrade, exec, status),
  throughput  --mib MiB piped through `exec -i -- cat` and back.
Prints ratios against `docker exec`. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import docker
from pod_startup import Env, pod, wait_node_ready

from agent.kubelet import labels as L
from minikube_py.api.resources import PODS
from minikube_py.client import ApiClient

KUBECTL_NEW = "/usr/bin/kubectl"
OLD_KUBECTL = Path(__file__).resolve().parents[1] / "bin" / "old-kubectl"  # fetches 1.20 once


def timed(argv: list[str], data: bytes) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(argv, input=data, capture_output=True, timeout=300, check=True)
    elapsed = time.perf_counter() - t0
    if len(out.stdout) != len(data):
        raise RuntimeError(f"{argv[0]}: {len(out.stdout)} bytes back of {len(data)}")
    return elapsed


async def running_pod(env: Env) -> tuple[str, str]:
    name = f"exec-{uuid.uuid4().hex[:6]}"
    async with ApiClient.from_kubeconfig(env.kubeconfig) as api:
        await api.create(PODS, pod(env.node, name))
        for _ in range(600):
            st = (await api.get(PODS, name, "default")).get("status") or {}
            if st.get("phase") == "Running":
                break
            await asyncio.sleep(0.1)
    cid = docker.from_env().api.containers(filters={"label": [
        f"{L.POD_NAME}={name}", f"{L.CONTAINER_NAME}=app"]})[0]["Id"]
    return name, cid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    got = subprocess.run([str(OLD_KUBECTL)], capture_output=True, text=True, check=False)
    if got.returncode != 0:
        raise SystemExit(f"kubectl 1.20 not available: {got.stderr.strip()}")
    old = got.stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(Path(tmp))
        try:
            env.start()
            asyncio.run(wait_node_ready(env))
            name, cid = asyncio.run(running_pod(env))
            data = os.urandom(args.mib << 20)
            ways = {"docker exec (baseline)": ["docker", "exec", "-i", cid],
                    "kubectl 1.32 WebSocket": [KUBECTL_NEW, "--kubeconfig", str(env.kubeconfig),
                                               "exec", "-i", name, "--"],
                    "kubectl 1.20 SPDY/3.1": [old, "--kubeconfig", str(env.kubeconfig), "exec",
                                              "-i", name, "--"]}
            rows = {}
            for way, argv in ways.items():
                latency = statistics.median(timed(argv + ["true"], b"")
                                            for _ in range(args.runs + 2))
                through = statistics.median(timed(argv + ["cat"], data)
                                            for _ in range(args.runs))
                rows[way] = (latency, args.mib / through)
            base_latency, base_rate = rows["docker exec (baseline)"]
            print(f"{'way':26} {'exec true':>10} {'ratio':>6} {'MiB/s cat':>10} {'ratio':>6}")
            for way, (latency, rate) in rows.items():
                print(f"{way:26} {latency:9.3f}s {latency / base_latency:5.2f}x "
                      f"{rate:10.1f} {rate / base_rate:5.2f}x")
        finally:
            env.close()


if __name__ == "__main__":
    main()
