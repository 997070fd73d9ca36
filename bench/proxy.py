"""Benchmark: proxy syncs at 1,000 and 10,000 services x 5 endpoints.

Each figure is printed beside a raw `iptables-restore --noflush --counters` of
the very same text, run in the same process on the same backend, so the ratio
is what our Python (building the text, reading the current chains, bookkeeping)
costs on top of the kernel and iptables work that any proxy pays:

    full sync (cold)    proxier.sync() into an empty netns   vs raw restore into another
    full sync (warm)    periodic full sync over its own rules  vs raw restore over the same
    one changed service partial sync after 1 endpoint change   vs raw restore of that text
                        (CHANGES_PER_ROUND of them per round)
    idle CPU            process CPU seconds while the sync loop waits 2 s with no change

Everything happens in throwaway network namespaces, removed at the end.
Run as root:  .venv/bin/python bench/proxy.py [--sizes 1000,10000] [--nft-sizes 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from agent.proxy import iptables
from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from cni_plugins.iptables_runner import Backend

ENDPOINTS_PER_SERVICE = 5


class Recording:
    """The real backend, keeping the last text it restored (the baseline's input)."""

    def __init__(self, backend: Backend) -> None:
        self.inner, self.mode, self.last = backend, backend.mode, ""

    async def save(self, table: str | None = None) -> str:
        return await self.inner.save(table)

    async def restore(self, text: str) -> None:
        self.last = text
        await self.inner.restore(text)

    @contextlib.contextmanager
    def restoring(self) -> Iterator[Callable[[str], None]]:
        """Passes a streamed restore through as it comes (so it is timed as it runs)."""
        chunks: list[str] = []
        with self.inner.restoring() as write:
            def tee(chunk: str) -> None:
                chunks.append(chunk)
                write(chunk)
            yield tee
        self.last = "".join(chunks)


def service(i: int) -> dict[str, Any]:
    return {"metadata": {"namespace": f"ns{i % 50}", "name": f"svc-{i}"},
            "spec": {"clusterIP": f"10.96.{i // 250}.{i % 250 + 1}", "type": "ClusterIP",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}


def endpoints(i: int, generation: int = 0) -> dict[str, Any]:
    ips = [f"10.{244 + (i * 5 + k) // 62500}.{(i * 5 + k) // 250 % 250}.{(i * 5 + k) % 250 + 1}"
           for k in range(ENDPOINTS_PER_SERVICE)]
    if generation:
        ips[0] = f"10.250.{generation // 250}.{generation % 250 + 1}"
    return {"metadata": {"namespace": f"ns{i % 50}", "name": f"svc-{i}"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                         "ports": [{"name": "http", "port": 8080}]}]}


async def netns() -> str:
    name = f"mkpb-proxy-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(subprocess.run, ["ip", "netns", "add", name], check=True)
    return name


async def remove_netns(*names: str) -> None:
    for name in names:
        await asyncio.to_thread(subprocess.run, ["ip", "netns", "del", name], check=False)


async def raw_restore(backend: Backend, text: str) -> float:
    started = time.perf_counter()
    await backend.restore(text)
    return time.perf_counter() - started


async def timed_sync(proxy: Proxier, *, full: bool) -> float:
    started = time.perf_counter()
    await proxy.sync(full=full)
    return time.perf_counter() - started


LABELS = ("full sync (cold)", "full sync (warm, periodic)", "one changed service")
CHANGES_PER_ROUND = 4  # one changed service is cheap to repeat: more samples of the noisiest


async def one_round(mode: str, n: int) -> list[list[tuple[float, float]]]:
    """(ours, raw) seconds, per sample, for each of LABELS, in fresh namespaces."""
    iptables.chain_name.cache_clear()  # a cold start hashes every chain name again
    ours_ns, raw_ns = await netns(), await netns()
    try:
        proxy = Proxier(None, ProxySettings(netns=ours_ns, backend=mode))
        rec = Recording(Backend(mode, ours_ns))
        proxy.backend = rec  # type: ignore[assignment]
        raw = Backend(mode, raw_ns)
        for i in range(n):
            proxy.set_service(service(i))
            proxy.set_endpoints(endpoints(i))
        cold = await timed_sync(proxy, full=True)
        cold_raw = await raw_restore(raw, rec.last)
        warm = await timed_sync(proxy, full=True)
        warm_raw = await raw_restore(raw, rec.last)
        changes = []
        for k in range(1, CHANGES_PER_ROUND + 1):
            proxy.set_endpoints(endpoints(n * k // (CHANGES_PER_ROUND + 1), generation=k))
            partial = await timed_sync(proxy, full=False)
            assert proxy.last_sync and proxy.last_sync.written == 1
            changes.append((partial, await raw_restore(raw, rec.last)))
        return [[(cold, cold_raw)], [(warm, warm_raw)], changes]
    finally:
        await remove_netns(ours_ns, raw_ns)


async def idle_cpu(mode: str, n: int) -> float:
    """CPU seconds this process spends in 2 s of the sync loop with nothing changing."""
    ns = await netns()
    try:
        proxy = Proxier(None, ProxySettings(netns=ns, backend=mode))
        for i in range(n):
            proxy.set_service(service(i))
            proxy.set_endpoints(endpoints(i))
        loop = asyncio.create_task(proxy.loop())
        while proxy.last_sync is None:  # the loop's first (full) sync
            await asyncio.sleep(0.05)
        cpu = time.process_time()
        await asyncio.sleep(2.0)
        used = time.process_time() - cpu
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        return used
    finally:
        await remove_netns(ns)


async def bench(mode: str, n: int, repeat: int) -> None:
    print(f"{mode} backend, {n} services x {ENDPOINTS_PER_SERVICE} endpoints "
          f"({repeat} rounds; best and median times; {time.strftime('%H:%M', time.gmtime())} "
          f"UTC, load average {os.getloadavg()[0]:.1f})")
    rounds = [await one_round(mode, n) for _ in range(repeat)]
    for i, label in enumerate(LABELS):
        samples = [pair for r in rounds for pair in r[i]]
        ours, raw = (min(p[k] for p in samples) for k in (0, 1))
        median, raw_median = (statistics.median(p[k] for p in samples) for k in (0, 1))
        # Each sample measures ours and raw back to back, so its ratio cancels most of the
        # shared machine's noise; the median ratio is the figure to read.
        ratio = statistics.median(p[0] / p[1] for p in samples)
        print(f"  {label:<28} ours {ours:6.3f} s (median {median:6.3f})   raw restore "
              f"{raw:6.3f} s (median {raw_median:6.3f})   ratio {ratio:5.2f} "
              f"(median of {len(samples)})")
    print(f"  idle CPU over 2 s: {await idle_cpu(mode, n):.4f} s "
          f"(load average now {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="legacy backend sizes")
    parser.add_argument("--nft-sizes", default="1000",
                        help="nft backend sizes ('' to skip; 10000 takes minutes)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="rounds: best times and the median ratio are shown")
    args = parser.parse_args()
    runs = [("legacy", int(s)) for s in args.sizes.split(",") if s]
    runs += [("nft", int(s)) for s in args.nft_sizes.split(",") if s]
    for mode, n in runs:
        asyncio.run(bench(mode, n, args.repeat))


if __name__ == "__main__":
    main()
