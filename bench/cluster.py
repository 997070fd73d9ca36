"""Benchmark: one-command clusters (issue 7).

Measures, on this host, as root:
  - `minikube-py up` until the node is Ready (wall time of the command),
  - `minikube-py lab up --nodes 3` until three nodes are Ready,
  - the idle memory of the whole single-node cluster: sum of RSS of every process of ours
    (api-server + its etcd, scheduler, controller-manager, agent) after --idle seconds.
Baseline in the same run: a bare etcd (the floor of any Kubernetes control plane) from
exec to healthy, and its idle RSS. Goals: Ready < 30 s, idle total < 400 MiB.

    .venv/bin/python bench/cluster.py [--idle 20]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from support import free_port

EXE = str(Path(sys.executable).with_name("minikube-py"))
MiB = 1024 * 1024


def run(*args: str) -> float:
    """Wall seconds of `minikube-py ARGS`; raises if it failed."""
    start = time.monotonic()
    done = subprocess.run([EXE, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"minikube-py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - start


def rss_of(marker: str) -> tuple[int, int]:
    """(sum of RSS in bytes, process count) of live processes whose command line has `marker`."""
    total = count = 0
    for p in psutil.process_iter(["cmdline", "memory_info"]):
        if any(marker in a for a in p.info["cmdline"] or []) and p.info["memory_info"]:
            total += p.info["memory_info"].rss
            count += 1
    return total, count


def baseline_etcd(tmp: Path, idle: float) -> tuple[float, int]:
    """A bare etcd: seconds from exec to /health OK, and its RSS after `idle` s."""
    client, peer = free_port(), free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        ["etcd", "--data-dir", str(tmp / "etcd"), "--listen-client-urls",
         f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
         f"http://127.0.0.1:{peer}", "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as r:
                    if b"true" in r.read():
                        break
            except OSError:
                time.sleep(0.05)
        ready = time.monotonic() - start
        time.sleep(idle)
        return ready, psutil.Process(proc.pid).memory_info().rss
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=float, default=20.0, help="seconds idle before RSS")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mkp-bench-"))
    try:
        etcd_ready, etcd_rss = baseline_etcd(tmp, args.idle)
        root = tmp / "single"
        up = run("up", "--root", str(root), "--api-port", str(free_port()), "--no-install")
        again = run("up", "--root", str(root), "--no-install")
        time.sleep(args.idle)
        rss, procs = rss_of(str(root))
        run("down", "--root", str(root), "--purge")
        lab_root = tmp / "lab"
        lab = run("lab", "up", "--nodes", "3", "--root", str(lab_root), "--api-port",
                  str(free_port()), "--no-install")
        run("lab", "down", "--root", str(lab_root))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'measure':44} {'value':>10} {'baseline etcd':>14} {'ratio':>8}  goal")
    print(f"{'up -> node Ready':44} {up:9.1f}s {etcd_ready:13.2f}s {up / etcd_ready:7.1f}x  < 30 s")
    print(f"{'second up (reports running cluster)':44} {again:9.2f}s {'':>14} {'':>8}  seconds")
    print(f"{'lab up --nodes 3 -> 3 nodes Ready':44} {lab:9.1f}s {etcd_ready:13.2f}s "
          f"{lab / etcd_ready:7.1f}x")
    print(f"{f'idle RSS, whole single node ({procs} procs)':44} {rss / MiB:8.0f}Mi "
          f"{etcd_rss / MiB:12.0f}Mi {rss / etcd_rss:7.1f}x  < 400 MiB")


if __name__ == "__main__":
    main()
