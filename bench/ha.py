"""HA control plane under faults: how long writes through the VIP stop, and what HA costs.

    sudo flock /tmp/mkp-e2e.lock python bench/ha.py [--trials 10] [--cycles 3]

Brings up `lab up --control-planes 3 --nodes 1` and, with a continuous write load through
the VIP (bench/ha_load.py), repeats each fault `--trials` times: kill -9 of the etcd
leader, kill -9 of the VIP holder's api-server, the VIP holder's cable pulled (its
whole control plane gone, for the VIP's Lease to expire). Per fault: seconds from the
fault until a write begun after it is acknowledged (p50, max), the failed attempts, and
acknowledged writes missing at the end (must be 0), for two clients side by side: one
through the VIP only, one with every api-server as a fallback (our ApiClient, as agents).

Write throughput through the VIP (creates, 32 in flight, 10 s, after a 3 s warm-up)
against a `--control-planes 1` lab: both arms are the same code with the same TLS and
flags, one member instead of three. One lab exists at a time (they share the lab's
bridge and addresses), so the arms alternate lab by lab, `--cycles` times each, the
order swapped every cycle: what other processes on the machine do falls on both arms.
Goals (issue 19): p50 < 5 s, max < 10 s, 0 lost, HA throughput >= 70% of single-member.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ha_load import Api, FailoverWriteLoad, WatchRecorder, WriteLoad, configmap
from bench.support import alternated_rounds
from minikube_py.api.lease import VIP_LEASE
from minikube_py.cluster import ha, ha_status
from minikube_py.cluster.ha_status import HaStatus
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import ClusterState

EXE = str(Path(sys.executable).with_name("minikube-py"))


class Lab:
    def __init__(self, control_planes: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bench-ha-"))
        self.paths = ClusterPaths.under(self.root)
        self.control_planes = control_planes

    def cli(self, *args: str) -> str:
        done = subprocess.run([EXE, "lab", args[0], "--root", str(self.root), *args[1:]],
                              capture_output=True, text=True, timeout=400, check=False)
        if done.returncode != 0:
            raise SystemExit(f"lab {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def __enter__(self) -> Self:
        self.cli("up", "--control-planes", str(self.control_planes), "--nodes", "1",
                 "--no-install", "--timeout", "240")
        return self

    def __exit__(self, *exc: object) -> None:
        self.cli("down")
        shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> HaStatus:
        state = ClusterState.load(self.paths)
        assert state is not None
        return asyncio.run(ha_status.collect(self.paths, state))

    def cpu_seconds(self) -> float:
        """User + system CPU of every running component (etcd members, api-servers, ...)."""
        total = 0
        for raw in json.loads(self.paths.status_file.read_text())["components"].values():
            try:
                fields = Path(f"/proc/{raw['pid']}/stat").read_text().rsplit(")", 1)[1].split()
            except (KeyError, OSError):
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def kill(self, component: str) -> None:
        raw = json.loads(self.paths.status_file.read_text())["components"][component]
        os.kill(int(raw["pid"]), signal.SIGKILL)

    def healthy(self, timeout: float = 90.0) -> HaStatus:
        """Every member leader or follower, the VIP on its Lease holder, all components up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            running = json.loads(self.paths.status_file.read_text())["components"]
            if sorted(m.etcd for m in status.members)[-1:] == ["leader"] and all(
                    m.etcd in ("leader", "follower") for m in status.members) and [
                    m.node for m in status.members if m.holds_vip] == [
                    status.leases[VIP_LEASE]] and all(
                    c["state"] == "running" for c in running.values()):
                return status
            time.sleep(0.5)
        raise SystemExit(f"the HA lab did not settle: {self.status()}")


def kill_etcd_leader(lab: Lab, status: HaStatus) -> Callable[[], None]:
    [old] = [m for m in status.members if m.etcd == "leader"]
    lab.kill(f"etcd-{old.node}")

    def report() -> None:  # the restarted member may win the new term's election itself
        [new] = [m for m in lab.healthy().members if m.etcd == "leader"]
        print(f"  etcd leader {old.node} (term {old.raft_term}) -> {new.node} "
              f"(term {new.raft_term})", flush=True)
    return report


def kill_vip_apiserver(lab: Lab, status: HaStatus) -> Callable[[], None]:
    lab.kill(f"apiserver-{status.leases[VIP_LEASE]}")
    return lambda: None


def cut_vip_holder(lab: Lab, status: HaStatus) -> Callable[[], None]:
    holder = status.leases[VIP_LEASE]
    lab.cli("link", holder, "down")

    def plug_back() -> None:
        lab.cli("link", holder, "up")
    return plug_back


FAULTS = {"kill -9 etcd leader": kill_etcd_leader,
          "kill -9 VIP holder's api-server": kill_vip_apiserver,
          "cut VIP holder's link": cut_vip_holder}


def trials(lab: Lab, count: int, faults: list[str]) -> None:
    """Each fault `count` times under two write loads: one through the VIP only, one
    through our ApiClient with every api-server as a fallback (what agents do)."""
    api = Api.from_kubeconfig(lab.paths.admin_conf)
    state = ClusterState.load(lab.paths)
    assert state is not None
    watch = WatchRecorder(api).start()
    stamp = time.monotonic_ns()
    loads = {"VIP": WriteLoad(api, prefix=f"w{stamp}").start(),
             "fail-over": FailoverWriteLoad(api, prefix=f"f{stamp}", kubeconfig=lab.paths.admin_conf,
                                            fallbacks=tuple(f"https://{n.ip}:{state.api_port}"
                                                            for n in ha.control_planes(state))
                                            ).start()}
    print(f"{'fault':34} {'client':9} {'p50 s':>6} {'max s':>6} {'failed tries':>12} "
          f"{'lost':>5}")
    try:
        for name in faults:
            fault = FAULTS[name]
            resumes: dict[str, list[float]] = {k: [] for k in loads}
            failed = {k: load.failures for k, load in loads.items()}
            for _ in range(count):
                status = lab.healthy()
                time.sleep(2)
                undo = fault(lab, status)
                at = time.monotonic()  # in place (the link CLI takes a while to pull it)
                for k, load in loads.items():
                    resumes[k].append(load.wait_resumed(at, 60))
                undo()
            for k, load in loads.items():
                print(f"{name:34} {k:9} {statistics.median(resumes[k]):6.2f} "
                      f"{max(resumes[k]):6.2f} {load.failures - failed[k]:12d} "
                      f"{len(load.missing()):5d}", flush=True)
        lab.healthy()
    finally:
        for load in loads.values():
            load.stop()
        watch.stop()
    for k, load in loads.items():
        print(f"{k}: acknowledged writes {len(load.acked)}, lost {len(load.missing())}")
    print(f"watch events {watch.seen}, resourceVersion backwards {len(watch.backwards)}")


async def throughput(lab: Lab, prefix: str, seconds: float = 10.0, in_flight: int = 32
                     ) -> float:
    """ConfigMap creates per second through the lab's admin.conf server (the VIP); names
    start with `prefix` (a repeated name would be a 409, not a create)."""
    api = Api.from_kubeconfig(lab.paths.admin_conf)
    ctx: ssl.SSLContext = api.context
    done = 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api.token}"},
                                     connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        async def writer(k: int) -> None:
            nonlocal done
            i = 0
            while time.monotonic() < stop:
                body = configmap(f"{prefix}-{k}-{i}", "x")
                async with http.post(f"{api.server}/api/v1/namespaces/default/configmaps",
                                     json=body) as r:
                    if r.status == 201:
                        done += 1
                i += 1
        await asyncio.gather(*(writer(k) for k in range(in_flight)))
    return done / seconds


def measured(lab: Lab, cycle: int) -> float:
    """One throughput round on a settled lab, after a warm-up; also the control plane's
    CPU per create, which the machine's other load moves far less than the rate."""
    lab.healthy()
    asyncio.run(throughput(lab, f"warm{cycle}", seconds=3.0))
    cpu, seconds = lab.cpu_seconds(), 10.0
    rate = asyncio.run(throughput(lab, f"tp{cycle}", seconds))
    per_create = (lab.cpu_seconds() - cpu) / (rate * seconds) * 1000
    print(f"cycle {cycle}: {lab.control_planes} member(s) {rate:.0f} creates/s, control "
          f"plane CPU {per_create:.2f} ms per create (load average "
          f"{os.getloadavg()[0]:.1f})", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="per fault (0: none)")
    parser.add_argument("--cycles", type=int, default=3, help="throughput rounds per arm")
    parser.add_argument("--fault", action="append", choices=list(FAULTS),
                        help="only this fault (repeatable; default: each)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the fail-over client's moves are expected
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rates: dict[int, list[float]] = {3: [], 1: []}
    for cycle, order in alternated_rounds(args.cycles, (3, 1)):
        for members in order:
            with Lab(members) as lab:
                rates[members].append(measured(lab, cycle))
                if members == 3 and cycle == 0 and args.trials:
                    trials(lab, args.trials, args.fault or list(FAULTS))
    ratios = [ha / one for ha, one in zip(rates[3], rates[1], strict=True)]
    print(f"write throughput through the VIP: HA (3 members) median "
          f"{statistics.median(rates[3]):.0f}/s, single member median "
          f"{statistics.median(rates[1]):.0f}/s; per-cycle ratios "
          f"{', '.join(f'{r:.2f}' for r in ratios)}, median {statistics.median(ratios):.2f} "
          "(goal >= 0.70)")


if __name__ == "__main__":
    main()
