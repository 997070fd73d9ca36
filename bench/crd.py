"""Benchmark: creates/s of a custom object against a ConfigMap of the same size.

One api-server; a namespaced CRD whose schema declares `spec.data` (a map of strings,
the shape of a ConfigMap's data), so the custom object and the ConfigMap carry the same
payload and the custom one pays for pruning, defaulting and schema validation. Rounds
alternate the two kinds (this VM's speed drifts within minutes); the figure is the
median of the per-round ratios (goal >= 0.90, issue #18).

Usage: .venv/bin/python bench/crd.py [--n 2000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from statistics import median

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import alternated_rounds, bounded, scratch_apiserver
from minikube_py.api.types import Object

GROUP = "bench.example.com"
PAYLOAD = {f"key-{i}": "v" * 40 for i in range(8)}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": f"payloads.{GROUP}"},
       "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": "payloads", "kind": "Payload"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                    "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                        "type": "object", "properties": {"data": {
                            "type": "object",
                            "additionalProperties": {"type": "string"}}}}}}}}]}}


async def creates_per_second(session: aiohttp.ClientSession, custom: bool, tag: str,
                             n: int) -> float:
    path = f"/apis/{GROUP}/v1/namespaces/default/payloads" if custom \
        else "/api/v1/namespaces/default/configmaps"

    async def create(i: int) -> None:
        body: Object = {"metadata": {"name": f"{tag}-{i}"}}
        body.update({"spec": {"data": PAYLOAD}} if custom else {"data": PAYLOAD})
        async with session.post(path, json=body) as r:
            assert r.status == 201, await r.text()
    return await bounded(n, create)


async def main(n: int, rounds: int) -> None:
    with scratch_apiserver("bench-crd-") as api:
        async with api.session() as session:
            async with session.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                    json=CRD) as r:
                assert r.status == 201, await r.text()
            await asyncio.sleep(1)
            await creates_per_second(session, True, "warm", 200)
            await creates_per_second(session, False, "warm", 200)
            ratios = []
            for i, kinds in alternated_rounds(rounds, (True, False)):
                rate = {custom: await creates_per_second(session, custom, f"r{i}", n)
                        for custom in kinds}
                ratios.append(rate[True] / rate[False])
                print(f"round {i}: custom {rate[True]:7.0f}/s  configmap {rate[False]:7.0f}/s"
                      f"  ratio {ratios[-1]:.2f}", flush=True)
        print(f"custom object / ConfigMap creates/s: median ratio {median(ratios):.2f} "
              f"over {rounds} rounds of {n} (goal >= 0.90)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
