"""Benchmark: what the api package adds to every write and read, against a JSON round trip.

The api-server parses each body and serialises each answer anyway, so the unit here is
one `json.loads(json.dumps(obj))` of the same object, measured in the same run; each
operation prints its cost as a multiple of that baseline (and per-object microseconds):

- create path of a Deployment: default (incl. schema pruning) + prepare + validate,
- update path of a Pod: default + prepare_update + validate_update,
- a kubectl-apply-sized strategic merge patch on a Deployment,
- a Table of 1,000 pods (kubectl get pods),
- a label selector matched against 10,000 label sets, against a dict comparison.

Usage: .venv/bin/python bench/api.py [--n 2000]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api import resources
from minikube_py.api.patch import STRATEGIC, apply_patch
from minikube_py.api.registry import strategy_for
from minikube_py.api.selectors import LabelSelector


def deployment(i: int = 0) -> dict[str, Any]:
    labels = {"app": f"web-{i}", "tier": "front"}
    container = {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                 "env": [{"name": f"E{k}", "value": str(k)} for k in range(5)],
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                               "limits": {"cpu": "500m", "memory": "128Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/", "port": 80}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"web-{i}", "namespace": "default", "labels": labels},
            "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [container]}}}}


def pod(i: int) -> dict[str, Any]:
    spec = copy.deepcopy(deployment(i)["spec"]["template"]["spec"])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-{i}", "namespace": "default", "uid": str(i),
                         "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "web"}},
            "spec": {**spec, "nodeName": "node-1"},
            "status": {"phase": "Running", "podIP": f"10.244.0.{i % 250}",
                       "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0,
                                              "state": {"running": {}}}]}}


def timed(fn: Callable[[], object], n: int) -> float:
    """Best of three runs of n calls, seconds per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    n = parser.parse_args().n
    d_strategy, p_strategy = strategy_for(resources.DEPLOYMENTS), strategy_for(resources.PODS)
    template = deployment()

    def round_trip(obj: dict[str, Any] = template) -> object:
        return json.loads(json.dumps(obj))

    def create() -> object:
        obj = json.loads(json.dumps(template))
        d_strategy.default(obj)
        d_strategy.prepare_create(obj)
        return d_strategy.validate_create(obj)

    old = pod(1)
    p_strategy.default(old)

    def update() -> object:
        new = json.loads(json.dumps(old))
        new["metadata"]["labels"]["x"] = "y"
        p_strategy.default(new)
        p_strategy.prepare_update(new, old)
        return p_strategy.validate_update(new, old)

    stored = copy.deepcopy(template)
    d_strategy.default(stored)
    patch = json.dumps({"spec": {"replicas": 5, "template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"name": "web", "image": "nginx:1.26",
                        "env": [{"name": "E1", "$patch": "delete"}]}]}}}}).encode()

    def strategic() -> object:
        return apply_patch(stored, patch, STRATEGIC, resources.DEPLOYMENTS)

    pods = [pod(i) for i in range(1000)]

    def table() -> object:
        return p_strategy.table(pods)

    label_sets = [{"app": f"web-{i % 50}", "tier": "front", "track": str(i % 3)}
                  for i in range(10000)]
    selector = LabelSelector.parse("app=web-7,tier in (front,back),!canary")
    wanted = {"app": "web-7", "tier": "front"}

    def select() -> object:
        return [s for s in label_sets if selector.matches(s)]

    def select_baseline() -> object:
        return [s for s in label_sets if all(s.get(k) == v for k, v in wanted.items())]

    base = timed(round_trip, n)
    pods_base = timed(lambda: [round_trip(p) for p in pods], max(1, n // 1000))
    rows = [
        ("create Deployment: default+prepare+validate", timed(create, n), base),
        ("update Pod: default+prepare_update+validate", timed(update, n), timed(
            lambda: round_trip(old), n)),
        ("strategic merge patch on a Deployment", timed(strategic, n), base),
        ("Table of 1,000 pods", timed(table, max(1, n // 200)), pods_base),
        ("label selector over 10,000 label sets", timed(select, max(1, n // 100)),
         timed(select_baseline, max(1, n // 100))),
    ]
    print(f"baseline: json round trip of a Deployment = {base * 1e6:.1f} us")
    print(f"{'operation':48} {'us/op':>10} {'baseline us':>12} {'ratio':>7}")
    for name, cost, against in rows:
        print(f"{name:48} {cost * 1e6:10.1f} {against * 1e6:12.1f} {cost / against:7.1f}x")


if __name__ == "__main__":
    main()
