"""Benchmark: requests through our ingress controller's HAProxy against the same HAProxy
configured by hand for the same backends, same run; reloads under load; and config change
to traffic switched.

A real api-server holds an Ingress (host bench.test, Prefix / -> Service web, two
endpoints); a `minikube-py ingress` process (its HAProxy, one thread) serves it. A second
HAProxy (one thread) runs a hand-written configuration for the same two backends, and, when
nginx is installed, nginx (one worker) a hand-written one too: the measurement behind
choosing HAProxy. The backends are a third HAProxy answering from memory (`http-request
return`), so no proxy waits on an application; `direct` is wrk against one backend, the
ceiling. wrk (pinned to core 0, with the backends) drives each proxy (pinned to core 1):

    requests/s, p99    wrk -t1 -c32 --latency, keep-alive, Host: bench.test; the arms in
                       an order rotated each round, medians over the rounds
    reloads under load the same wrk run while the Ingress flips between two Services every
                       --flip seconds (each flip a checked config and a master-CLI reload);
                       nginx by hand gets a SIGHUP (its graceful reload) at the same pace;
                       requests/s against the steady runs and wrk's errors (a lost request
                       is a socket error or a non-2xx answer)
    change -> switched the Ingress's backend flipped: from the API's answer to the first
                       response from the new backend (a client polling every 2 ms),
                       p50/p99/max over --switches changes

Goals (issue #20): ours >= 90% of the hand-configured HAProxy's requests/s; change to
switched p99 < 1 s. Run as root from the repository root (apt-get install -y haproxy wrk
nginx-light):
    PYTHONPATH=. .venv/bin/python bench/ingress.py [--rounds 3] [--seconds 10] [--switches 40]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.support import alternated_rounds, free_port, start_apiserver
from minikube_py.api.resources import ENDPOINTSLICES, INGRESSES, NAMESPACES, SERVICES
from minikube_py.client import ApiClient

NS, HOST = "bench-ingress", "bench.test"
BACKENDS = {"web": 2, "alt": 1}  # service -> endpoints
LOADED = "haproxy configuration loaded"  # the controller's log line per (re)load


@dataclass(frozen=True)
class Run:
    rps: float
    p99_ms: float
    errors: int  # socket errors + non-2xx answers
    requests: int
    cpu_s: float = 0.0  # CPU of the arm's process tree during the run
    detail: str = ""  # wrk's words for the errors

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(self.requests, 1) * 1e6


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by `root` and its descendants (with their reaped children):
    on this shared machine, CPU per request compares proxies where requests/s is noise."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (ppid, clock ticks)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), sum(map(int, fields[11:15])))
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in stats.items() if ppid == parent]
        tree.update(children)
        frontier += children
    return sum(stats[pid][1] for pid in tree if pid in stats) / os.sysconf("SC_CLK_TCK")


def backends_config(ports: dict[str, list[int]]) -> str:
    lines = ["global", "    nbthread 1", "defaults", "    mode http", "    timeout connect 5s",
             "    timeout client 60s", "    timeout server 60s"]
    for name, numbers in ports.items():
        for i, port in enumerate(numbers):
            lines += [f"frontend {name}{i}", f"    bind 127.0.0.1:{port}",
                      (f"    http-request return status 200 content-type text/plain "
                      f"string {name}")]
    return "\n".join(lines) + "\n"


def hand_config(port: int, web: list[int]) -> str:
    """What a person writes for one host and one Service's two endpoints."""
    servers = "\n".join(f"    server web{i} 127.0.0.1:{p}" for i, p in enumerate(web))
    return f"""global
    nbthread 1
defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend http
    bind 127.0.0.1:{port}
    use_backend web if {{ hdr(host) -m str {HOST} }}
backend web
    balance roundrobin
{servers}
"""


def nginx_config(port: int, web: list[int], tmp: Path) -> str:
    """The same by hand for nginx: upstream keep-alive, as HAProxy reuses its own."""
    servers = "".join(f"        server 127.0.0.1:{p};\n" for p in web)
    temp = "".join(f"    {kind}_temp_path {tmp}/nginx-{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}    upstream web {{
{servers}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name {HOST};
        location / {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


async def create_objects(client: ApiClient, ports: dict[str, list[int]]) -> None:
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": NS}})
    for name, numbers in ports.items():
        await client.create(SERVICES, {"apiVersion": "v1", "kind": "Service",
                                       "metadata": {"name": name},
                                       "spec": {"ports": [{"name": "http", "port": 80}]}}, NS)
        for i, port in enumerate(numbers):  # one slice per endpoint: ports differ
            await client.create(ENDPOINTSLICES, {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-{i}",
                             "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
                "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]},
                NS)
    await client.create(INGRESSES, {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                    "metadata": {"name": "bench"}, "spec": spec("web")}, NS)


def spec(service: str) -> dict[str, object]:
    return {"ingressClassName": "minikube-py", "rules": [{"host": HOST, "http": {
        "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {
            "name": service, "port": {"number": 80}}}}]}}]}


async def flip(client: ApiClient, service: str) -> None:
    await client.patch(INGRESSES, "bench", {"spec": spec(service)}, NS)


def get(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": HOST})
        response = conn.getresponse()
        return response.read().decode() if response.status == 200 else str(response.status)
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        conn.close()


def answered(port: int, body: str, timeout: float = 30.0, interval: float = 0.002) -> float:
    """Seconds until `port` answers `body` (polled every `interval`)."""
    start = time.monotonic()
    while get(port) != body:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"port {port} never answered {body!r}")
        time.sleep(interval)
    return time.monotonic() - start


def wrk(port: int, seconds: int, proxy: int) -> Run:
    """One wrk run pinned to core 0; `proxy`: the root pid of the proxy's processes."""
    cpu = tree_cpu(proxy)
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c32", f"-d{seconds}s",
                          "--latency", "-H", f"Host: {HOST}", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    socket_errors = re.search(r"Socket errors: (.*)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))) \
        if socket_errors else 0
    errors += int(non_2xx.group(1)) if non_2xx else 0
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    detail = "; ".join(m.group(0) for m in (socket_errors, non_2xx) if m)
    return Run(rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], errors,
               requests, tree_cpu(proxy) - cpu, detail)


async def under_reloads(port: int, seconds: int, proxy: int, every: float,
                        reload: Callable[[], Awaitable[None]]) -> tuple[Run, int]:
    """wrk on `port` while `reload()` runs every `every` s: (the run, reloads made)."""
    run = asyncio.create_task(asyncio.to_thread(wrk, port, seconds, proxy))
    count = 0
    await asyncio.sleep(min(1.0, seconds / 4))
    while not run.done() and count * every < seconds - 2:
        await reload()
        count += 1
        await asyncio.sleep(every)
    return await run, count


async def switch_times(client: ApiClient, port: int, count: int) -> list[float]:
    times = []
    for i in range(count):
        target = "alt" if i % 2 == 0 else "web"
        await flip(client, target)
        times.append(await asyncio.to_thread(answered, port, target))
        await asyncio.sleep(0.2)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spawn(argv: list[str], log: Path, core: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(["taskset", "-c", core, *argv], stdout=out,
                                stderr=subprocess.STDOUT)


def show(run: Run) -> str:
    return (f"{run.rps:8,.0f} req/s, p99 {run.p99_ms:6.2f} ms, "
            f"{run.cpu_us_per_request:5.1f} us CPU/request, errors {run.errors}"
            + (f" ({run.detail})" if run.detail else ""))


def summary(name: str, runs: list[Run]) -> str:
    return (f"{name:7} median {statistics.median(r.rps for r in runs):8,.0f} req/s, "
            f"p99 {statistics.median(r.p99_ms for r in runs):6.2f} ms, "
            f"{statistics.median(r.cpu_us_per_request for r in runs):5.1f} us CPU/request, "
            f"errors {sum(r.errors for r in runs)}")


def ratios(steady: dict[str, list[Run]], name: str) -> str:
    """`name` against the hand-configured HAProxy, round by round (adjacent runs)."""
    rps = [a.rps / b.rps for a, b in zip(steady[name], steady["hand"], strict=True)]
    cpu = [b.cpu_us_per_request / a.cpu_us_per_request
           for a, b in zip(steady[name], steady["hand"], strict=True)]
    return (f"{name} / hand HAProxy, medians of per-round ratios: requests/s "
            f"{statistics.median(rps):.2f} (rounds {min(rps):.2f}-{max(rps):.2f}), "
            f"requests per CPU second {statistics.median(cpu):.2f} "
            f"(rounds {min(cpu):.2f}-{max(cpu):.2f})")


async def main(args: argparse.Namespace) -> None:
    for tool in ("haproxy", "wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (apt-get install -y haproxy wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingress-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data, api_port = tmp / "data", free_port()
        procs.append(start_apiserver(data, api_port))
        ports = {name: [free_port() for _ in range(n)] for name, n in BACKENDS.items()}
        (tmp / "backends.cfg").write_text(backends_config(ports))
        backends = spawn(["haproxy", "-f", str(tmp / "backends.cfg")], tmp / "backends.log",
                         "0")
        procs.append(backends)
        arms = {"ours": free_port(), "hand": free_port()}  # name -> port
        (tmp / "hand.cfg").write_text(hand_config(arms["hand"], ports["web"]))
        hand = spawn(["haproxy", "-f", str(tmp / "hand.cfg")], tmp / "hand.log", "1")
        procs.append(hand)
        pids = {"hand": hand.pid}  # name -> the root of its processes
        nginx: subprocess.Popen[bytes] | None = None
        if shutil.which("nginx"):
            arms["nginx"] = free_port()
            (tmp / "nginx.conf").write_text(nginx_config(arms["nginx"], ports["web"], tmp))
            nginx = spawn(["nginx", "-c", str(tmp / "nginx.conf")], tmp / "nginx.log", "1")
            procs.append(nginx)
            pids["nginx"] = nginx.pid
        arms["direct"], pids["direct"] = ports["web"][0], backends.pid
        async with ApiClient.from_kubeconfig(data / "admin.conf") as client:
            await create_objects(client, ports)
            exe = str(Path(sys.executable).with_name("minikube-py"))
            ingress_log = tmp / "ingress.log"
            ours = spawn([exe, "ingress", "--kubeconfig", str(data / "admin.conf"),
                          "--bind-address", "127.0.0.1", "--http-port", str(arms["ours"]),
                          "--https-port", str(free_port()), "--state-dir",
                          str(tmp / "ingress"), "--threads", "1"], ingress_log, "1")
            procs.append(ours)
            pids["ours"] = ours.pid  # the controller, its HAProxy master and worker
            for name, port in arms.items():
                if name != "ours":
                    answered(port, "web")
            print(f"controller serving after {answered(arms['ours'], 'web'):.2f} s")
            changes = itertools.count()

            async def change() -> None:
                await flip(client, "alt" if next(changes) % 2 == 0 else "web")

            steady: dict[str, list[Run]] = {name: [] for name in arms}
            reloading: dict[str, list[Run]] = {"ours": [], "nginx": []}
            for r, order in alternated_rounds(args.rounds, list(arms)):
                for name in order:
                    steady[name].append(run := wrk(arms[name], args.seconds, pids[name]))
                    print(f"round {r + 1} {name:6}: {show(run)}")
                loaded = ingress_log.read_text().count(LOADED)
                run, flips = await under_reloads(arms["ours"], args.seconds, pids["ours"],
                                                 args.flip, change)
                await asyncio.sleep(1)
                reloads = ingress_log.read_text().count(LOADED) - loaded
                reloading["ours"].append(run)
                print(f"round {r + 1} ours under {flips} Ingress changes ({reloads} "
                      f"reloads): {show(run)}")
                if nginx is not None:
                    async def hup(proc: subprocess.Popen[bytes] = nginx) -> None:
                        proc.send_signal(signal.SIGHUP)
                    run, hups = await under_reloads(arms["nginx"], args.seconds,
                                                    pids["nginx"], args.flip, hup)
                    reloading["nginx"].append(run)
                    print(f"round {r + 1} nginx under {hups} SIGHUP reloads: {show(run)}")
                await flip(client, "web")
                answered(arms["ours"], "web")
            print("steady:")
            for name, runs in steady.items():
                print("  " + summary(name, runs))
            print("reloading (CPU of ours includes the controller's checks and reloads):")
            for name, runs in reloading.items():
                if runs:
                    print("  " + summary(name, runs))
            print(ratios(steady, "ours") + " (goal >= 0.90)")
            if nginx is not None:
                print(ratios(steady, "nginx"))
            rps = [a.rps / b.rps for a, b in zip(reloading["ours"], steady["ours"], strict=True)]
            print(f"ours reloading / ours steady requests/s, median of rounds: "
                  f"{statistics.median(rps):.2f}")
            times = await switch_times(client, arms["ours"], args.switches)
            print(f"change -> switched over {len(times)}: p50 {pct(times, 0.5) * 1000:.0f} ms, "
                  f"p99 {pct(times, 0.99) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
                  f"(goal p99 < 1 s)")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--flip", type=float, default=0.25,
                        help="seconds between reloads in the reloads-under-load runs")
    parser.add_argument("--switches", type=int, default=40)
    asyncio.run(main(parser.parse_args()))
