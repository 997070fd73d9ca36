"""Benchmark: LISTs from the watch cache against the same LISTs read from etcd.

One private api-server (embedded etcd), N ConfigMaps of ~1 KiB in one namespace. In
alternated rounds, 64 concurrent clients LIST the namespace: without `limit` (served
from the watch cache after etcd confirms it current) and with a `limit` larger than the
collection (the same answer, read from etcd as every list was before the cache). The
api-server's CPU per LIST is the steady figure on a shared 2-core machine; lists/s is
printed too. First the memory the cache costs: the server's RSS after lists from etcd,
then after lists that start and use the cache.

Usage: .venv/bin/python bench/list_cache.py [--n 5000] [--rounds 6] [--lists 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from statistics import median

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import bounded, scratch_apiserver

NS = "/api/v1/namespaces/default/configmaps"
MiB = 1024 * 1024


def cpu(server: psutil.Process) -> float:
    times = server.cpu_times()
    return float(times.user + times.system)


async def lists(session: aiohttp.ClientSession, server: psutil.Process, n: int, count: int,
                query: str) -> tuple[float, float]:
    """(lists/s, api-server CPU ms per list) for `count` LISTs with `query`."""
    async def one(_: int) -> None:
        async with session.get(NS + query) as r:
            assert r.status == 200
            assert len((await r.json())["items"]) == n

    before = cpu(server)
    rate = await bounded(count, one)
    return rate, (cpu(server) - before) * 1000 / count


async def main(args: argparse.Namespace) -> None:
    with scratch_apiserver("bench-list-cache-") as api:
        server = psutil.Process(api.proc.pid)
        async with api.session() as session:
            print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

            async def create(i: int) -> None:
                body = {"metadata": {"name": f"cm-{i:05}"}, "data": {"v": "x" * 1000}}
                async with session.post(NS, json=body) as r:
                    assert r.status == 201

            await bounded(args.n, create)
            # One list at a time (64 at once hold 64 response bodies): RSS after lists from
            # etcd (their transient peak stays in the heap), then after lists that start and
            # use the cache: what the cache holds.
            rss = []
            for query in (f"?limit={args.n * 10}", ""):
                for _ in range(3):
                    async with session.get(NS + query) as r:
                        await r.read()
                await asyncio.sleep(1)
                rss.append(server.memory_info().rss)
            rss_before, rss_after = rss
            cached, etcd = [], []
            for _ in range(args.rounds):
                cached.append(await lists(session, server, args.n, args.lists, ""))
                etcd.append(await lists(session, server, args.n, args.lists,
                                        f"?limit={args.n * 10}"))
            print(f"LIST of {args.n} ConfigMaps, 64 clients, {args.rounds} alternated rounds "
                  f"of {args.lists} (medians, ranges)")
            for what, runs in (("watch cache", cached), ("etcd", etcd)):
                rates, cpus = [r for r, _ in runs], [c for _, c in runs]
                print(f"  {what:12} {median(rates):7.1f} lists/s ({min(rates):.1f}-"
                      f"{max(rates):.1f}), server CPU {median(cpus):6.1f} ms/list "
                      f"({min(cpus):.1f}-{max(cpus):.1f})")
            print(f"  RSS after lists from etcd / from the cache: {rss_before / MiB:.0f} / "
                  f"{rss_after / MiB:.0f} MiB")
            print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lists", type=int, default=64)
    asyncio.run(main(parser.parse_args()))
