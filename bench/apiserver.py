"""Benchmark: the api-server beside raw etcd (aetcd) in the same run.

Starts a private api-server (embedded etcd) on free loopback ports, then measures
through HTTPS + token and, as the baseline, the same operation straight against
that api-server's etcd with aetcd:

- creates/s and GETs/s with 64 requests in flight (the load from this Python process),
- creates/s with 64 connections from wrk (C), if installed: the server's capacity without
  this client's own CPU, which on 2 cores takes a fifth of the machine,
  (creates in alternated rounds, each beside its own raw-put sample: this VM's speed drifts by
  +-30% within minutes, so one baseline taken minutes apart from its measure means little),
- LIST of 1,000 pods by 64 concurrent clients,
- single-object create latency p50/p99 at a paced 100 creates/s,
- watch delivery latency p50/p99 to 100 watchers.

Usage: .venv/bin/python bench/apiserver.py [--n 1000] [--watchers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from statistics import median
from typing import Any

import aetcd
import aiohttp
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.etcd_tls import embedded_client, etcd_flags
from bench.support import CONCURRENCY, bounded, free_port, scratch_apiserver, start_apiserver

WRK_CREATE = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", "%s-" .. threads)
end
function request()
  counter = counter + 1
  local body = '{"metadata":{"name":"wrk-' .. id .. '-' .. counter .. '","labels":{"app":"bench"}},'
    .. '"spec":{"containers":[{"name":"c","image":"busybox:1.36","command":["sleep","3600"]}]}}'
  return wrk.format("POST", "%s", {["Authorization"] = "Bearer %s",
                                   ["Content-Type"] = "application/json"}, body)
end
"""
CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                     "command": ["sleep", "3600"]}]}}


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


class Bench:
    def __init__(self, session: aiohttp.ClientSession, etcd: aetcd.Client, n: int,
                 server: psutil.Process) -> None:
        self.s, self.etcd, self.n, self.server = session, etcd, n, server
        self.rows: list[tuple[str, str, str, str]] = []

    def cpu(self) -> float:
        """CPU seconds the api-server process has used: a figure the machine's load
        does not distort (wall-clock rates here share 2 cores with everything else)."""
        times = self.server.cpu_times()
        return float(times.user + times.system)

    async def api_rate(self, n: int, fn: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
        """(rate/s, api-server CPU ms per operation)."""
        before = self.cpu()
        rate = await bounded(n, fn)
        return rate, (self.cpu() - before) * 1000 / n

    def row(self, what: str, raw: str, api: str, ratio: str) -> None:
        self.rows.append((what, raw, api, ratio))
        print(f"{what:40s} raw etcd {raw:>16s}   api-server {api:>16s}   {ratio}", flush=True)

    async def raw_puts(self, prefix: str, count: int) -> float:
        """Puts/s of `count` pod-sized values straight into etcd: the creates' baseline."""
        body = json.dumps(pod("x")).encode()

        async def put(i: int) -> None:
            await self.etcd.put(f"{prefix}{i}".encode(), body)
        return await bounded(count, put)

    def creates_row(self, what: str, rounds: list[tuple[float, float, float]]) -> None:
        """One row from alternated (raw, api, server ms) rounds: medians, and the median
        of the per-round ratios, so a burst of load from elsewhere spoils a round, not all."""
        ratios = sorted(api / raw for raw, api, _ in rounds)
        self.row(what, f"{median(r[0] for r in rounds):.0f}",
                 f"{median(r[1] for r in rounds):.0f}",
                 f"{median(ratios):.0%} ({ratios[0]:.0%}-{ratios[-1]:.0%} over {len(rounds)} "
                 f"rounds; goal >= 40%); server CPU {median(r[2] for r in rounds):.2f} ms/op")

    async def creates_and_gets(self, rounds: int = 5) -> None:
        # Later rounds create in their own namespace: the LIST below stays n pods.
        async with self.s.post("/api/v1/namespaces", json={"metadata": {"name": "rounds"}}) as r:
            assert r.status == 201, await r.text()
        samples = []
        for n in range(rounds):
            path = PODS if n == 0 else "/api/v1/namespaces/rounds/pods"

            async def create(i: int, path: str = path, n: int = n) -> None:
                async with self.s.post(path, json=pod(f"b-{i}" if n == 0 else f"r{n}-{i}")) as r:
                    assert r.status == 201, await r.text()
            raw = await self.raw_puts(f"/bench/round{n}/", 3 * self.n)
            samples.append((raw, *await self.api_rate(self.n, create)))
        self.creates_row("creates/s (64 in flight)", samples)
        await self.raw_puts("/bench/raw/", self.n)  # what the raw GETs and LISTs read

        async def get_raw(i: int) -> None:
            await self.etcd.get(f"/bench/raw/{i % self.n}".encode())

        async def get(i: int) -> None:
            async with self.s.get(f"{PODS}/b-{i % self.n}") as r:
                await r.read()
        raw = await bounded(self.n, get_raw)
        api, cpu = await self.api_rate(self.n, get)
        self.row("GETs/s (64 in flight)", f"{raw:.0f}", f"{api:.0f}",
                 f"{api / raw:.0%}; server CPU {cpu:.2f} ms/op")

    async def creates_by_wrk(self, url: str, token: str, server: psutil.Process,
                             label: str, rounds: int = 3) -> None:
        """The same creates from wrk (64 connections, 2 threads, 4 s), each round after its
        own raw-put sample; CPU of `server` and its api-server workers (not its etcd)."""
        if shutil.which("wrk") is None:
            print("wrk not installed (apt-get install wrk): creates by wrk skipped")
            return
        samples = []
        for _ in range(rounds):
            raw = await self.raw_puts(f"/bench/wrk-{uuid.uuid4().hex[:8]}/", 3 * self.n)
            samples.append((raw, *await self.wrk_creates(url, token, server)))
        self.creates_row(f"creates/s (wrk, 64 conns, {label})", samples)

    async def wrk_creates(self, url: str, token: str, server: psutil.Process,
                          seconds: int = 4) -> tuple[float, float]:
        """(creates/s, server CPU ms per create) of one wrk run."""

        def cpu() -> float:
            procs = [server, *(c for c in server.children() if c.name() != "etcd")]
            return sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
            script.write(WRK_CREATE % (uuid.uuid4().hex[:8], PODS, token))  # names: run-thread-n
            script.flush()
            before = cpu()
            proc = await asyncio.create_subprocess_exec(
                "wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", "-s", script.name, url,
                stdout=asyncio.subprocess.PIPE)
            out = (await proc.communicate())[0].decode()
        done = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
        rate = float(next(line for line in out.splitlines()
                          if line.startswith("Requests/sec")).split()[1])
        assert "Non-2xx" not in out, out  # every request must have created its pod
        return rate, (cpu() - before) * 1000 / done

    async def lists(self, rounds: int = 64) -> None:
        """LIST of all n pods, `rounds` times by 64 concurrent clients."""
        objects = self.n
        async def list_raw(i: int) -> None:
            got = await self.etcd.get_prefix(b"/bench/raw/")
            assert len(got) >= objects

        async def list_api(i: int) -> None:
            async with self.s.get(PODS) as r:
                data = await r.read()
            assert data.count(b'"uid"') >= objects
        raw = await bounded(rounds, list_raw)
        api, cpu = await self.api_rate(rounds, list_api)
        self.row(f"LISTs/s of {objects} pods (64 clients)", f"{raw:.1f}", f"{api:.1f}",
                 f"{api / raw:.0%}; server CPU {cpu:.1f} ms/op")

    async def paced_latency(self, rate: float = 100.0, seconds: float = 5.0) -> None:
        count = int(rate * seconds)

        async def paced(op: Callable[[int], Awaitable[None]]) -> list[float]:
            lat: list[float] = []

            async def one(i: int) -> None:
                t = time.perf_counter()
                await op(i)
                lat.append(time.perf_counter() - t)
            start = time.perf_counter()
            tasks = []
            for i in range(count):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)
            return lat
        body = json.dumps(pod("x")).encode()

        async def put(i: int) -> None:
            await self.etcd.put(f"/bench/paced/{i}".encode(), body)

        async def create(i: int) -> None:
            async with self.s.post(PODS, json=pod(f"paced-{i}")) as r:
                assert r.status == 201
        raw, api = await paced(put), await paced(create)
        self.row(f"create p50/p99 ms at {rate:.0f}/s", f"{pct(raw, .5):.1f}/{pct(raw, .99):.1f}",
                 f"{pct(api, .5):.1f}/{pct(api, .99):.1f}", "(goal p99 < 50 ms)")

    async def watch_latency(self, watchers: int, updates: int = 100, rate: float = 20.0
                            ) -> None:
        async def measure(start_watchers: Callable[[dict[int, float], list[float]],
                                                   Awaitable[list[asyncio.Task[None]]]],
                          write: Callable[[int], Awaitable[None]]) -> list[float]:
            sent: dict[int, float] = {}
            lat: list[float] = []
            tasks = await start_watchers(sent, lat)
            await asyncio.sleep(1.0)
            for i in range(updates):
                sent[i] = time.perf_counter()
                await write(i)
                await asyncio.sleep(1 / rate)
            deadline = time.perf_counter() + 10
            while len(lat) < updates * watchers and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return lat

        async def raw_watchers(sent: dict[int, float], lat: list[float]
                               ) -> list[asyncio.Task[None]]:
            async def one() -> None:
                async for ev in await self.etcd.watch_prefix(b"/bench/watch/"):
                    lat.append(time.perf_counter() - sent[int(ev.kv.value)])
            return [asyncio.create_task(one()) for _ in range(watchers)]

        async def raw_write(i: int) -> None:
            await self.etcd.put(b"/bench/watch/k", str(i).encode())

        async with self.s.post(CM, json={"metadata": {"name": "watched"},
                                         "data": {"i": "-1"}}) as r:
            obj = await r.json()
        rv = obj["metadata"]["resourceVersion"]

        async def api_watchers(sent: dict[int, float], lat: list[float]
                               ) -> list[asyncio.Task[None]]:
            async def one() -> None:
                async with self.s.get(CM, params={"watch": "1", "resourceVersion": rv},
                                      timeout=aiohttp.ClientTimeout(total=None)) as r:
                    async for line in r.content:
                        i = int(json.loads(line)["object"]["data"]["i"])
                        lat.append(time.perf_counter() - sent[i])
            return [asyncio.create_task(one()) for _ in range(watchers)]

        async def api_write(i: int) -> None:
            async with self.s.patch(f"{CM}/watched", json={"data": {"i": str(i)}},
                                    headers={"Content-Type": "application/merge-patch+json"}
                                    ) as r:
                assert r.status == 200, await r.text()
        raw = await measure(raw_watchers, raw_write)
        api = await measure(api_watchers, api_write)
        self.row(f"watch delivery p50/p99 ms, {watchers} watchers",
                 f"{pct(raw, .5):.1f}/{pct(raw, .99):.1f}",
                 f"{pct(api, .5):.1f}/{pct(api, .99):.1f}",
                 f"(goal p99 < 100 ms; {len(api)}/{updates * watchers} delivered)")


async def main(args: argparse.Namespace) -> None:
    with scratch_apiserver("bench-apiserver-") as api:
        data, server = api.data, psutil.Process(api.proc.pid)
        conf = yaml.safe_load((data / "etcd" / "etcd.conf.yaml").read_text())
        etcd_port = int(conf["listen-client-urls"].rsplit(":", 1)[1])
        async with api.session(args.watchers + CONCURRENCY) as session, \
                embedded_client(data, etcd_port) as etcd:
            print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            bench = Bench(session, etcd, args.n, server)
            await bench.creates_and_gets()
            await bench.lists()
            await bench.paced_latency()
            await bench.watch_latency(args.watchers)
            # Last: they leave 10k+ pods. Then the same against 2 processes (--workers 2) on
            # the same etcd.
            await bench.creates_by_wrk(api.url, api.token, server, "1 process")
            port2 = free_port()
            proc2 = start_apiserver(api.tmp / "data2", port2, "--workers", "2", "--etcd-servers",
                                    f"https://127.0.0.1:{etcd_port}", *etcd_flags(data))
            try:
                await asyncio.sleep(2)  # the worker is listening too
                await bench.creates_by_wrk(
                    f"https://127.0.0.1:{port2}",
                    (api.tmp / "data2" / "pki" / "admin.token").read_text().strip(),
                    psutil.Process(proc2.pid), "--workers 2")
            finally:
                proc2.terminate()
                proc2.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pods created (and listed)")
    parser.add_argument("--watchers", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
