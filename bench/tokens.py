"""Benchmark: service-account credentials checked from the api-server's watch-fed
credential index, beside a baseline commit that read etcd for them.

Two api-servers on one embedded etcd and data dir (so one sa.key signs for both): this
tree's code and `--baseline REV`'s (extracted with `git archive` into a temporary dir and
run with PYTHONPATH pointing there). In alternated rounds (this VM's speed drifts within
minutes), each serves, one request at a time:

- pod creates by the admin in a namespace whose pods run as a ServiceAccount (the
  ServiceAccount admission looks the account up on every create);
- TokenReviews of `--tokens` distinct tokens, each bound to its own pod (the
  authenticator checks that the account and the pod still exist with the token's uids),
  taken round-robin.

Printed: p50/p99 latency and the server's CPU per request of each, per round, and the
medians of the per-round ratios (this tree / baseline).

Usage: .venv/bin/python bench/tokens.py --baseline REV [--rounds 4] [--n 300] [--tokens 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from statistics import median

import aiohttp
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.apiserver import pct
from bench.etcd_tls import etcd_flags
from bench.support import (
    alternated_rounds,
    extract,
    free_port,
    scratch_apiserver,
    start_apiserver,
    stop,
)

NS = "bench-tokens"
ACCOUNT = "robot"
REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def pod(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {
        "serviceAccountName": ACCOUNT,
        "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}


async def seed(s: aiohttp.ClientSession, tokens: int) -> list[str]:
    """The namespace, its account, and `tokens` pod-bound tokens (one pod each)."""
    async with s.post("/api/v1/namespaces", json={"metadata": {"name": NS}}) as r:
        assert r.status == 201, await r.text()
    async with s.post(f"/api/v1/namespaces/{NS}/serviceaccounts",
                      json={"metadata": {"name": ACCOUNT}}) as r:
        assert r.status == 201, await r.text()
    out = []
    for i in range(tokens):
        async with s.post(f"/api/v1/namespaces/{NS}/pods", json=pod(f"bound-{i}")) as r:
            made = await r.json()
            assert r.status == 201, made
        async with s.post(f"/api/v1/namespaces/{NS}/serviceaccounts/{ACCOUNT}/token", json={
                "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                            "name": f"bound-{i}",
                                            "uid": made["metadata"]["uid"]}}}) as r:
            got = await r.json()
            assert r.status == 201, got
            out.append(got["status"]["token"])
    return out


def cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def measure(s: aiohttp.ClientSession, proc: psutil.Process, tag: str, n: int,
                  tokens: list[str]) -> dict[str, tuple[float, float, float]]:
    """what -> (p50 ms, p99 ms, server CPU ms per request)."""
    out = {}
    samples, before = [], cpu(proc)
    for i in range(n):
        start = time.perf_counter()
        async with s.post(f"/api/v1/namespaces/{NS}/pods", json=pod(f"{tag}-{i}")) as r:
            assert r.status == 201, await r.text()
            await r.read()
        samples.append(time.perf_counter() - start)
    out["pod create"] = (pct(samples, 0.5), pct(samples, 0.99), (cpu(proc) - before) * 1000 / n)
    samples, before = [], cpu(proc)
    for i in range(n):
        start = time.perf_counter()
        async with s.post(REVIEWS, json={"apiVersion": "authentication.k8s.io/v1",
                                         "kind": "TokenReview",
                                         "spec": {"token": tokens[i % len(tokens)]}}) as r:
            review = await r.json()
            assert r.status == 201 and review["status"]["authenticated"], review
        samples.append(time.perf_counter() - start)
    out["token review"] = (pct(samples, 0.5), pct(samples, 0.99),
                           (cpu(proc) - before) * 1000 / n)
    return out


async def main(args: argparse.Namespace) -> None:
    with scratch_apiserver("bench-tokens-") as index:
        baseline_src = index.tmp / "baseline"
        baseline_src.mkdir()
        extract(args.baseline, baseline_src)
        conf = yaml.safe_load((index.data / "etcd" / "etcd.conf.yaml").read_text())
        port = free_port()
        baseline = start_apiserver(
            index.data, port, "--etcd-servers", conf["listen-client-urls"],
            *etcd_flags(index.data), env={**os.environ, "PYTHONPATH": str(baseline_src)})
        try:
            procs = {"index": psutil.Process(index.proc.pid),
                     "baseline": psutil.Process(baseline.pid)}
            async with index.session(4) as mine, aiohttp.ClientSession(
                    base_url=f"https://127.0.0.1:{port}", headers=mine.headers,
                    connector=aiohttp.TCPConnector(ssl=index.ssl_context(), limit=4)) as theirs:
                await compare(args, {"index": mine, "baseline": theirs}, procs)
        finally:
            stop(baseline)


async def compare(args: argparse.Namespace, sessions: dict[str, aiohttp.ClientSession],
                  procs: dict[str, psutil.Process]) -> None:
    tokens = await seed(sessions["index"], args.tokens)
    await asyncio.sleep(1)  # both servers' watches have the seeds
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"baseline {args.baseline}")
    for mode, s in sessions.items():
        await measure(s, procs[mode], f"warm-{mode}", args.n // 4, tokens)
    ratios: dict[str, list[tuple[float, float, float]]] = {}
    for r, order in alternated_rounds(args.rounds, ("index", "baseline")):
        got = {m: await measure(sessions[m], procs[m], f"{m}-{r}", args.n, tokens)
               for m in order}
        for what, (p50, p99, per) in got["index"].items():
            b50, b99, bper = got["baseline"][what]
            ratios.setdefault(what, []).append((p50 / b50, p99 / b99, per / bper))
            print(f"round {r} {what:12s}: index p50 {p50:.2f} p99 {p99:.2f} ms CPU "
                  f"{per:.2f} ms | baseline p50 {b50:.2f} p99 {b99:.2f} ms CPU "
                  f"{bper:.2f} ms", flush=True)
    for what, values in ratios.items():
        p50s, p99s, cpus = (sorted(v[i] for v in values) for i in range(3))
        print(f"{what} index/baseline over {args.rounds} rounds: p50 "
              f"{median(p50s):.0%} ({p50s[0]:.0%}-{p50s[-1]:.0%}), p99 "
              f"{median(p99s):.0%} ({p99s[0]:.0%}-{p99s[-1]:.0%}), server CPU "
              f"{median(cpus):.0%} ({cpus[0]:.0%}-{cpus[-1]:.0%})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True,
                        help="the commit to compare with (one reading etcd per request)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n", type=int, default=300, help="requests of each kind per round")
    parser.add_argument("--tokens", type=int, default=200, help="distinct pod-bound tokens")
    asyncio.run(main(parser.parse_args()))
