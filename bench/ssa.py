"""Benchmark: `kubectl apply --server-side` of a 50-container Deployment against the
client-side `kubectl apply` of the same manifest.

One api-server; two Deployments of 50 containers each (one per apply mode, so neither
inherits the other's managers). Every round applies a changed manifest (a new image
tag on every container, a new replica count) once in each mode, the order alternating
between rounds (this VM's speed drifts within minutes); each figure is the wall time of
the whole kubectl process, as a user sees it. The result is the median of the per-round
ratios server-side / client-side (goal <= 2.0, issue #18).

Usage: .venv/bin/python bench/ssa.py [--rounds 10] [--containers 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import alternated_rounds, scratch_apiserver


def deployment(name: str, containers: int, tag: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1 + tag % 3, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{
                             "name": f"c{i}", "image": f"registry.local/app-{i}:{tag}",
                             "ports": [{"containerPort": 8000 + i}],
                             "env": [{"name": "INDEX", "value": str(i)}],
                             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
                             for i in range(containers)]}}}}


def timed_apply(kubeconfig: Path, cache: Path, manifest: Path, server_side: bool) -> float:
    mode = ["--server-side"] if server_side else []
    started = time.perf_counter()
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir",
                           str(cache), "apply", *mode, "-f", str(manifest)],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kubectl apply failed: {done.stderr}")
    return elapsed


def main(rounds: int, containers: int) -> None:
    with scratch_apiserver("bench-ssa-") as api:
        tmp, data = api.tmp, api.data
        kubeconfig, cache = data / "admin.conf", tmp / "cache"

        def apply(server_side: bool, tag: int) -> float:
            name = "ssa" if server_side else "csa"
            manifest = tmp / f"{name}-{tag}.json"
            manifest.write_text(json.dumps(deployment(name, containers, tag)))
            return timed_apply(kubeconfig, cache, manifest, server_side)
        for mode in (False, True):  # create both, warm kubectl's discovery cache
            apply(mode, 0)
        ratios = []
        for i, modes in alternated_rounds(rounds, (True, False)):
            took = {mode: apply(mode, i + 1) for mode in modes}  # tag 0: the creates above
            ratios.append(took[True] / took[False])
            print(f"round {i + 1}: server-side {took[True] * 1000:6.0f} ms  client-side "
                  f"{took[False] * 1000:6.0f} ms  ratio {ratios[-1]:.2f}", flush=True)
        print(f"server-side / client-side apply of a {containers}-container Deployment: "
              f"median ratio {median(ratios):.2f} over {rounds} rounds (goal <= 2.0)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--containers", type=int, default=50)
    args = parser.parse_args()
    main(args.rounds, args.containers)
