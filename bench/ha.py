"""HA control plane under faults: how long writes through the VIP stop, and what HA costs.

    sudo flock /tmp/mkp-e2e.lock python bench/ha.py [--trials 10]

Brings up `lab up --control-planes 3 --nodes 1` and, with a continuous write load through
the VIP (bench/ha_load.py), repeats each fault `--trials` times: kill -9 of the etcd
leader, kill -9 of the VIP holder's api-server, the VIP holder's cable pulled (its
whole control plane gone, for the VIP's Lease to expire). Per fault: seconds from the
fault until a write begun after it is acknowledged (p50, max), the failed attempts, and
acknowledged writes missing at the end (must be 0). Then write throughput through the VIP
(creates, 32 in flight, 10 s) against a `--control-planes 1` lab run the same way.
Goals (issue 19): p50 < 5 s, max < 10 s, 0 lost, HA throughput >= 70% of single-member.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from bench.ha_load import Api, WatchRecorder, WriteLoad, configmap
from minikube_py.cluster import ha_status
from minikube_py.cluster.ha_status import VIP_LEASE, HaStatus
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
    [leader] = [m.node for m in status.members if m.etcd == "leader"]
    lab.kill(f"etcd-{leader}")
    return lambda: None


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


def trials(lab: Lab, count: int) -> None:
    api = Api.from_kubeconfig(lab.paths.admin_conf)
    watch = WatchRecorder(api).start()
    load = WriteLoad(api, prefix=f"w{time.monotonic_ns()}").start()
    print(f"{'fault':34} {'p50 s':>6} {'max s':>6} {'failed tries':>12} {'lost':>5}")
    try:
        for name, fault in FAULTS.items():
            resumes, failed = [], load.failures
            for _ in range(count):
                status = lab.healthy()
                time.sleep(2)
                undo = fault(lab, status)
                at = time.monotonic()  # in place (the link CLI takes a while to pull it)
                resumes.append(load.wait_resumed(at, 60))
                undo()
            lost = load.missing()
            print(f"{name:34} {statistics.median(resumes):6.2f} {max(resumes):6.2f} "
                  f"{load.failures - failed:12d} {len(lost):5d}", flush=True)
        lab.healthy()
    finally:
        load.stop()
        watch.stop()
    print(f"acknowledged writes {len(load.acked)}, lost {len(load.missing())}, watch events "
          f"{watch.seen}, resourceVersion backwards {len(watch.backwards)}")


async def throughput(lab: Lab, seconds: float = 10.0, in_flight: int = 32) -> float:
    """ConfigMap creates per second through the lab's admin.conf server (the VIP)."""
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
                body = configmap(f"tp-{k}-{i}", "x")
                async with http.post(f"{api.server}/api/v1/namespaces/default/configmaps",
                                     json=body) as r:
                    if r.status == 201:
                        done += 1
                i += 1
        await asyncio.gather(*(writer(k) for k in range(in_flight)))
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with Lab(3) as lab:
        lab.healthy()
        ha_rate = asyncio.run(throughput(lab))
        trials(lab, args.trials)
    with Lab(1) as single:
        single.healthy()
        single_rate = asyncio.run(throughput(single))
    print(f"write throughput through the VIP: HA (3 members) {ha_rate:.0f}/s, single member "
          f"{single_rate:.0f}/s, ratio {ha_rate / single_rate:.2f} (goal >= 0.70)")


if __name__ == "__main__":
    main()
