"""Client machinery benchmark: what our layers cost over the bare tools.

1. WorkQueue (dedup, processing set, rate limiter bookkeeping) vs a bare
   asyncio.Queue moving the same keys through the same number of workers.
2. Watch stream decoding (our split_lines + json) vs aiohttp's readline-based
   loop over the same bytes.
3. With --kubeconfig: GETs/s through ApiClient vs the same GETs through a bare
   aiohttp session (same pool size and TLS), 64 in flight.

Run: .venv/bin/python bench/client.py [--kubeconfig D/admin.conf]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

import aiohttp
from aiohttp.base_protocol import BaseProtocol

from minikube_py.api.resources import CONFIGMAPS
from minikube_py.client import ApiClient, WorkQueue
from minikube_py.client.ratelimit import ExponentialBackoff
from minikube_py.client.rest import split_lines


async def timed(fn: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def compare(ours: Callable[[], Awaitable[None]], bare: Callable[[], Awaitable[None]],
                  rounds: int = 3) -> tuple[float, float]:
    """Best of `rounds`, alternating: on a shared machine the minimum is the signal."""
    ours_times, bare_times = [], []
    for _ in range(rounds):
        ours_times.append(await timed(ours))
        bare_times.append(await timed(bare))
    return min(ours_times), min(bare_times)


async def bench_workqueue(keys: int, workers: int) -> tuple[float, float]:
    async def ours() -> None:
        q = WorkQueue("bench", rate_limiter=ExponentialBackoff())
        done = 0

        async def work(key: Hashable) -> None:
            nonlocal done
            await asyncio.sleep(0)  # a handler that yields, as real ones do
            done += 1
            if done == keys:
                q.shutdown()

        for i in range(keys):
            q.add(i)
        await q.run_workers(work, workers=workers)

    async def bare() -> None:
        q: asyncio.Queue[int] = asyncio.Queue()
        for i in range(keys):
            q.put_nowait(i)

        async def worker() -> None:
            while True:
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await asyncio.sleep(0)  # the same yielding handler
                q.task_done()

        await asyncio.gather(*(worker() for _ in range(workers)))

    return await compare(ours, bare)


async def bench_watch_decode(events: int) -> tuple[float, float]:
    line = json.dumps({"type": "MODIFIED", "object": {
        "metadata": {"name": "pod", "namespace": "default", "resourceVersion": "1"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}).encode() + b"\n"
    body = line * events
    chunks = [body[i:i + 16384] for i in range(0, len(body), 16384)]

    async def feed() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def ours() -> None:
        async for raw in split_lines(feed()):
            json.loads(raw)

    async def bare() -> None:
        loop = asyncio.get_running_loop()
        reader = aiohttp.StreamReader(_Protocol(), 2**16, loop=loop)
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        while raw := await reader.readline():
            json.loads(raw)

    return await compare(ours, bare)


class _Protocol(BaseProtocol):
    """A stand-in transport side: the whole body is already in memory."""

    def __init__(self) -> None:
        super().__init__(asyncio.get_running_loop())

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


async def bench_gets(kubeconfig: str, total: int, concurrency: int) -> tuple[float, float]:
    async with ApiClient.from_kubeconfig(kubeconfig) as client:
        name = f"bench-{time.time_ns():x}"
        await client.create(CONFIGMAPS, {"metadata": {"name": name}, "data": {"k": "v"}},
                             "default")
        path = CONFIGMAPS.path("default", name)
        headers = {"Authorization": f"Bearer {client.config.read_token()}",
                   "Accept": "application/json"}

        async def run(one: Callable[[], Awaitable[object]]) -> None:
            sem = asyncio.Semaphore(concurrency)

            async def go() -> None:
                async with sem:
                    await one()
            await asyncio.gather(*(go() for _ in range(total)))

        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ssl=client.config.ssl_context()
                                               or False)) as http:
            async def bare_get() -> object:
                async with http.get(client.server + path, headers=headers) as resp:
                    return json.loads(await resp.read())

            ours, bare = await compare(
                lambda: run(lambda: client.get(CONFIGMAPS, name, "default")),
                lambda: run(bare_get))
        await client.delete(CONFIGMAPS, name, "default")
    return ours, bare


def report(what: str, n: int, ours: float, bare: float) -> None:
    print(f"{what:<34} ours {n / ours:>10,.0f}/s  baseline {n / bare:>10,.0f}/s  "
          f"ratio {bare / ours:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--gets", type=int, default=5000)
    args = parser.parse_args()
    keys, events = 50_000, 50_000
    report("workqueue keys (8 workers)", keys, *await bench_workqueue(keys, 8))
    report("watch lines decoded", events, *await bench_watch_decode(events))
    if args.kubeconfig:
        report("GETs (64 in flight)", args.gets, *await bench_gets(args.kubeconfig, args.gets, 64))


if __name__ == "__main__":
    asyncio.run(main())
