"""Benchmark: the cluster DNS server (`minikube-py dns`) against dnsmasq, same run.

A real api-server holds 10,000 Services; our server loads them through its informers,
dnsmasq serves the same 10,000 names from a hosts file. dnsperf runs in a client network
namespace (a veth away, as a pod is), both servers are pinned to the same core and
dnsperf to another, and the rounds alternate between the two servers:

    max qps             dnsperf unthrottled (100 outstanding), queries per second
    p50/p99 at 2,000/s  dnsperf -Q 2000 -v: every query's latency
    memory              our server's RSS with 10,000 Services loaded; with `--baseline REV`
                        also, in alternated rounds, fresh servers of this tree and of
                        REV (`git archive`d, run with PYTHONPATH there): RSS and peak
                        RSS (VmHWM) once all names answer, and their ratio
    new Service         create -> first answer from our server, p50/p99 over 200 creates

Also the wire libraries (`--wire`): parse a query + build an answer, dnslib vs dnspython.

Run as root from the repository root (apt-get install -y dnsperf dnsmasq-base):
    PYTHONPATH=. .venv/bin/python bench/dns.py [--services 10000] [--rounds 3] [--baseline REV]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and its name would hide
# dnspython's `dns` package: look it up from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import dns.asyncquery
import dns.message
import psutil

from bench.support import REPO, alternated_rounds, extract, free_port, start_apiserver, stop
from minikube_py.api.resources import NAMESPACES, SERVICES
from minikube_py.client import ApiClient

NAMESPACE_COUNT = 50
DOMAIN = "cluster.local"


def name(i: int) -> str:
    return f"svc-{i}.bench-{i % NAMESPACE_COUNT}.svc.{DOMAIN}"


async def create_services(kubeconfig: Path, count: int) -> dict[str, str]:
    """count Services over NAMESPACE_COUNT namespaces; name -> ClusterIP."""
    ips: dict[str, str] = {}
    async with ApiClient.from_kubeconfig(kubeconfig) as client:
        for n in range(NAMESPACE_COUNT):
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": f"bench-{n}"}})
        sem = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with sem:
                svc = await client.create(SERVICES, {
                    "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}"},
                    "spec": {"ports": [{"name": "http", "port": 80}]}}, f"bench-{i % 50}")
                ips[name(i)] = svc["spec"]["clusterIP"]
        await asyncio.gather(*(one(i) for i in range(count)))
    return ips


@contextmanager
def client_netns() -> Iterator[tuple[str, str]]:
    """A namespace for dnsperf and the host-side address the servers listen on."""
    tag = uuid.uuid4().hex[:6]
    ns, host_if, peer_if = f"mkpb-dns-{tag}", f"mkpbd{tag}", f"mkpbe{tag}"
    octet = 1 + random.randrange(250)
    host_ip, ns_ip = f"169.254.{octet}.1", f"169.254.{octet}.2"

    def sh(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        for argv in (("ip", "addr", "add", f"{ns_ip}/30", "dev", peer_if),
                     ("ip", "link", "set", peer_if, "up"), ("ip", "link", "set", "lo", "up")):
            sh("ip", "netns", "exec", ns, *argv)
        yield ns, host_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def pinned(core: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *argv] if (os.cpu_count() or 1) > 1 else argv


def dnsperf(ns: str, server: str, port: int, queries: Path, seconds: int,
            qps: int | None = None) -> tuple[float, list[float]]:
    """(queries per second, per-query latencies in ms if qps is limited)."""
    argv = ["dnsperf", "-s", server, "-p", str(port), "-d", str(queries), "-l", str(seconds),
            "-q", "100", "-t", "2"]
    if qps:
        argv += ["-Q", str(qps), "-v"]
    out = subprocess.run(["ip", "netns", "exec", ns, *pinned(0, argv)], capture_output=True,
                         text=True, check=True).stdout
    rate = next(float(line.split()[-1]) for line in out.splitlines()
                if "Queries per second" in line)
    latencies = [float(line.split()[-1]) * 1000 for line in out.splitlines()
                 if line.startswith("> ")]
    lost = next(line for line in out.splitlines() if "Queries lost" in line)
    if lost.split()[2] != "0":
        print(f"    ({lost.strip()})")
    return rate, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def wait_answer(server: str, port: int, qname: str, timeout: float) -> float:
    """Seconds until `qname` resolves (NOERROR with an answer)."""
    start = time.monotonic()
    query = dns.message.make_query(qname, "A")
    while time.monotonic() - start < timeout:
        try:
            reply = await dns.asyncquery.udp(query, server, port=port, timeout=0.5)
            if reply.answer:
                return time.monotonic() - start
        except dns.exception.Timeout:
            pass
        await asyncio.sleep(0.002)
    return float("inf")


async def new_service_latency(kubeconfig: Path, server: str, port: int, count: int
                              ) -> list[float]:
    delays = []
    async with ApiClient.from_kubeconfig(kubeconfig) as client:
        for i in range(count):
            await client.create(SERVICES, {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"new-{i}"},
                "spec": {"ports": [{"port": 80}]}}, "bench-0")
            delays.append(await wait_answer(server, port, f"new-{i}.bench-0.svc.{DOMAIN}", 5))
    return delays


def start_dns(kubeconfig: Path, host_ip: str, port: int, source: Path | None = None
              ) -> subprocess.Popen[bytes]:
    """`minikube-py dns` on core 1, from `source` (a tree's root) or as installed."""
    env = {**os.environ, "PYTHONPATH": str(source)} if source else None
    return subprocess.Popen(pinned(1, [
        str(Path(sys.executable).parent / "minikube-py"), "dns", "--kubeconfig", str(kubeconfig),
        "--bind-address", host_ip, "--port", str(port), "--health-port", str(free_port()),
        "--upstream", "127.0.0.1:9"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env)


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in MiB, from /proc/<pid>/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if line.startswith(("VmRSS", "VmHWM")))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def memory_rounds(kubeconfig: Path, host_ip: str, last: str, rounds: int, baseline: str,
                  into: Path) -> None:
    """Fresh servers of this tree and of `baseline` in alternated rounds, each measured
    once it answers for `last` (its informers have listed everything) and stopped."""
    into.mkdir()
    extract(baseline, into)
    arms = (("this tree", REPO), (f"baseline {baseline}", into))
    got: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in arms}
    for r, order in alternated_rounds(rounds, arms):
        for label, source in order:
            port = free_port()
            proc = start_dns(kubeconfig, host_ip, port, source)
            try:
                ready = asyncio.run(wait_answer(host_ip, port, last, 120))
                rss, peak = memory_mib(proc.pid)
            finally:
                stop(proc)
            got[label].append((rss, peak))
            print(f"  round {r + 1} {label:18s}: RSS {rss:5.1f} MiB, peak {peak:5.1f} MiB, "
                  f"all names answered {ready:.1f} s after start")
    (mine, _), (theirs, _) = arms
    for i, what in enumerate(("RSS", "peak RSS")):
        ratios = [m[i] / t[i] for m, t in zip(got[mine], got[theirs], strict=True)]
        print(f"{what} this tree / baseline: median {statistics.median(ratios):.2f} "
              f"({statistics.median(m[i] for m in got[mine]):.1f} against "
              f"{statistics.median(t[i] for t in got[theirs]):.1f} MiB; goal < 100 MiB)")


def wire_bench(n: int = 20000) -> None:
    import dns.rrset
    import dnslib

    query = dns.message.make_query(f"web.default.svc.{DOMAIN}", "A").to_wire()

    def with_dnspython() -> bytes:
        m = dns.message.from_wire(query)
        r = dns.message.make_response(m)
        r.answer.append(dns.rrset.from_text(m.question[0].name, 5, "IN", "A", "10.96.0.20"))
        return bytes(r.to_wire())

    def with_dnslib() -> bytes:
        m = dnslib.DNSRecord.parse(query)
        r = m.reply()
        r.add_answer(dnslib.RR(m.q.qname, dnslib.QTYPE.A, rdata=dnslib.A("10.96.0.20"), ttl=5))
        return bytes(r.pack())

    results: dict[str, list[float]] = {"dnspython": [], "dnslib": []}
    for _ in range(3):  # alternated
        for label, fn in (("dnspython", with_dnspython), ("dnslib", with_dnslib)):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            results[label].append((time.perf_counter() - start) / n * 1e6)
    for label, runs in results.items():
        print(f"parse query + build answer, {label:9s}: {min(runs):6.1f} us (best of 3)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--wire", action="store_true", help="only the wire-library figures")
    parser.add_argument("--baseline", help="a commit whose server's memory to compare with")
    args = parser.parse_args()
    wire_bench()
    if args.wire:
        return
    for tool in ("dnsperf", "dnsmasq", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} missing: apt-get install -y dnsperf dnsmasq-base")
    tmp = Path(tempfile.mkdtemp(prefix="bench-dns-"))
    data, api_port = tmp / "data", free_port()
    api = start_apiserver(data, api_port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        kubeconfig = data / "admin.conf"
        started = time.monotonic()
        ips = asyncio.run(create_services(kubeconfig, args.services))
        print(f"{len(ips)} Services created in {time.monotonic() - started:.1f} s")
        names = list(ips)
        random.shuffle(names)
        queries = tmp / "queries"
        queries.write_text("".join(f"{n} A\n" for n in names))
        hosts = tmp / "hosts"
        hosts.write_text("".join(f"{ip} {n}\n" for n, ip in ips.items()))
        with client_netns() as (ns, host_ip):
            if args.baseline:
                memory_rounds(kubeconfig, host_ip, names[-1], args.rounds, args.baseline,
                              tmp / "baseline")
            ours_port, theirs_port = free_port(), free_port()
            ours = start_dns(kubeconfig, host_ip, ours_port)
            procs.append(ours)
            theirs = subprocess.Popen(pinned(1, [
                "dnsmasq", "-k", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                "--port", str(theirs_port), "--listen-address", host_ip, "--bind-interfaces",
                "--pid-file=", "--user=root", "--cache-size=10000"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(theirs)
            ready = asyncio.run(wait_answer(host_ip, ours_port, names[-1], 120))
            print(f"our server answers for all {len(names)} names {ready:.1f} s after start")
            rss = psutil.Process(ours.pid).memory_info().rss / 2**20
            print(f"our server's RSS with {len(names)} Services: {rss:.0f} MiB "
                  "(goal < 100 MiB)")
            rates: dict[str, list[float]] = {"dnsmasq": [], "ours": []}
            lat: dict[str, list[float]] = {"dnsmasq": [], "ours": []}
            servers = (("dnsmasq", theirs_port), ("ours", ours_port))
            for r, order in alternated_rounds(args.rounds, servers):
                for label, port in order:
                    rate, _ = dnsperf(ns, host_ip, port, queries, args.seconds)
                    rates[label].append(rate)
                    _, latencies = dnsperf(ns, host_ip, port, queries, args.seconds, qps=2000)
                    lat[label] += latencies
                    print(f"  round {r + 1} {label:7s}: {rate:8.0f} q/s max; at 2,000 q/s "
                          f"p50 {pct(latencies, .5):.2f} ms p99 {pct(latencies, .99):.2f} ms")
            for label, runs in rates.items():
                print(f"{label:7s}: median {statistics.median(runs):8.0f} q/s; at 2,000 "
                      f"q/s p50 {pct(lat[label], .5):.2f} ms p99 {pct(lat[label], .99):.2f} ms")
            ratio = statistics.median(rates["ours"]) / statistics.median(rates["dnsmasq"])
            print(f"ours / dnsmasq queries per second: {ratio:.2f} (goal >= 0.50)")
            rss = psutil.Process(ours.pid).memory_info().rss / 2**20
            print(f"our server's RSS after the runs: {rss:.0f} MiB")
            delays = asyncio.run(new_service_latency(kubeconfig, host_ip, ours_port,
                                                     args.creates))
            print(f"new Service -> answer over {len(delays)} creates: p50 "
                  f"{pct(delays, .5) * 1000:.0f} ms, p99 {pct(delays, .99) * 1000:.0f} ms, "
                  f"max {max(delays) * 1000:.0f} ms (goal p99 < 1 s)")
    finally:
        stop(*procs, api)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
