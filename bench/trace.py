"""`minikube-py trace` wall time on a 3-node lab (issue #21: < 2 s).

    .venv/bin/python bench/trace.py [--rounds 10]

Brings up its own lab (`lab up --nodes 3`), the sample app (3 httpd pods behind a
Service) and a client pod, then alternates per round: `kubectl get pods -o wide` (a
plain API round trip from a fresh process, the baseline), `minikube-py trace CLIENT
hello` and the same with `--probe`. Prints medians and maxima; the lab is taken down at
the end, whatever happens. Needs root and the e2e lock (`flock /tmp/mkp-e2e.lock`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minikube_py.api.resources import PODS
from minikube_py.client import ApiClient
from minikube_py.cluster import sample_app

MKP = [sys.executable, "-m", "minikube_py.cli.main"]


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - t0


async def setup(admin: Path) -> str:
    async with ApiClient.from_kubeconfig(admin) as client:
        await sample_app.apply(client)
        await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": "bench-client"},
                                   "spec": {"containers": [{"name": "c",
                                                            "image": sample_app.IMAGE,
                                                            "command": ["sleep", "3600"]}]}},
                            "default")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pods = (await client.list(PODS, "default"))["items"]
            if len(pods) >= 4 and all((p.get("status") or {}).get("phase") == "Running"
                                      for p in pods):
                return "default/bench-client"
            await asyncio.sleep(1)
    raise TimeoutError("pods did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-trace-"))
    admin = root / "etc" / "admin.conf"
    subprocess.run([*MKP, "lab", "up", "--root", str(root), "--nodes", "3", "--no-install"],
                   check=True, timeout=600)
    try:
        sample_app.ensure_image()
        client = asyncio.run(setup(admin))
        trace = [*MKP, "trace", "--root", str(root), client, "hello"]
        kinds = {"kubectl get pods -o wide": ["kubectl", "--kubeconfig", str(admin), "get",
                                              "pods", "-o", "wide"],
                 "trace": trace, "trace --probe": [*trace, "--probe"]}
        times: dict[str, list[float]] = {k: [] for k in kinds}
        timed(trace)  # warm the page cache
        for _ in range(args.rounds):
            for name, argv in kinds.items():
                times[name].append(timed(argv))
        for name, values in times.items():
            print(f"{name:26} median {statistics.median(values):.2f}s max {max(values):.2f}s "
                  f"({args.rounds} runs)")
        print(f"goal: trace < 2 s -> median ratio to kubectl "
              f"{statistics.median(times['trace']) / statistics.median(times[next(iter(kinds))]):.2f}x")
    finally:
        subprocess.run([*MKP, "lab", "down", "--root", str(root)], check=False, timeout=300)


if __name__ == "__main__":
    main()
