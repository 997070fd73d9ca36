"""CNI benchmark: our plugin vs Debian's reference Go bridge + host-local, same run.

    sudo .venv/bin/python bench/cni.py [--iterations 100] [--no-throughput]

1. ADD and DEL latency, p50/p99 over N pods, exec'd exactly as a runtime
   does (fork+exec, config on stdin), the two plugins interleaved so machine
   noise hits both alike. Ours runs as installed: the stdlib shim forwarding
   to the resident netlink service; the shim's in-process fallback (no
   service) is measured too, over fewer pods.
2. Pod-to-pod TCP throughput (iperf3, 3 s) across the VXLAN overlay between
   two namespace nodes, vs the same pair of namespaces over a plain veth.

Everything lives in throwaway namespaces (mkpb-*), removed at the end.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cni_plugins import forwarding, overlay
from cni_plugins.install import install
from cni_plugins.nsutil import entered, open_iproute

REF_DIR = "/usr/lib/cni"
RUN = uuid.uuid4().hex[:6]
_made: list[str] = []


def netns(label: str) -> str:
    name = f"mkpb-{label}-{RUN}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    _made.append(name)
    return name


def ns_run(name: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", name, *argv], check=True,
                          capture_output=True, text=True).stdout


def remove_all() -> None:
    for name in reversed(_made):
        for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True, check=False).stdout.split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", name], check=False)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def exec_plugin(path: str, command: str, container: str, conf: bytes) -> float:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_IFNAME": "eth0",
           "CNI_NETNS": f"/run/netns/{container}", "CNI_PATH": REF_DIR, "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    proc = subprocess.run([path], input=conf, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{path} {command} failed: {proc.stdout!r} {proc.stderr!r}")
    return elapsed * 1000


@contextmanager
def service(node: str, sock: str) -> Iterator[None]:
    proc = subprocess.Popen(["ip", "netns", "exec", node, sys.executable, "-m",
                             "cni_plugins.service", "--socket", sock],
                            stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(sock):
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def latency(n: int, fallback_n: int, tmp: str) -> None:
    ours_node, ref_node = netns("ours"), netns("ref")
    ctrs = [netns(f"c{i}") for i in range(n)]
    ours_bin = str(install(f"{tmp}/bin"))
    sock = f"{tmp}/cni.sock"
    ipam = {"subnet": "10.244.50.0/24", "dataDir": f"{tmp}/leases",
            "routes": [{"dst": "0.0.0.0/0"}]}
    ours = json.dumps({"cniVersion": "1.0.0", "name": "ours", "type": "mkp-bridge",
                       "bridge": "cni0", "mtu": 1450, "socket": sock,
                       "ipam": {"type": "mkp-local", **ipam}}).encode()
    ref = json.dumps({"cniVersion": "1.0.0", "name": "ref", "type": "bridge", "bridge": "cni0",
                      "isGateway": True, "hairpinMode": True, "mtu": 1450,
                      "ipam": {"type": "host-local", **ipam}}).encode()
    times: dict[str, list[float]] = {k: [] for k in ("ref ADD", "ours ADD", "ref DEL",
                                                      "ours DEL", "fallback ADD", "fallback DEL")}

    def in_ns(node: str, path: str, command: str, ctr: str, conf: bytes) -> float:
        with entered(f"/run/netns/{node}"):  # children are forked from this thread
            return exec_plugin(path, command, ctr, conf)

    with service(ours_node, sock):
        for i, ctr in enumerate(ctrs):
            order = [("ref", ref_node, f"{REF_DIR}/bridge", ref),
                     ("ours", ours_node, ours_bin, ours)]
            for label, node, path, conf in order if i % 2 else reversed(order):
                times[f"{label} ADD"].append(in_ns(node, path, "ADD", ctr, conf))
                times[f"{label} DEL"].append(in_ns(node, path, "DEL", ctr, conf))
    for ctr in ctrs[:fallback_n]:
        times["fallback ADD"].append(in_ns(ours_node, ours_bin, "ADD", ctr, ours))
        times["fallback DEL"].append(in_ns(ours_node, ours_bin, "DEL", ctr, ours))

    print(f"CNI latency, ms ({n} pods; fallback {fallback_n})")
    print(f"{'':14}{'p50':>8}{'p99':>8}")
    for label, values in times.items():
        print(f"{label:14}{pct(values, 0.5):8.2f}{pct(values, 0.99):8.2f}")
    for cmd in ("ADD", "DEL"):
        ratio = pct(times[f"ours {cmd}"], 0.5) / pct(times[f"ref {cmd}"], 0.5)
        print(f"ratio ours/ref {cmd} p50: {ratio:.2f}x (goal <= 3x)")


def iperf(client_ns: str, server_ns: str, server_ip: str) -> float:
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if ":5201 " in ns_run(server_ns, "ss", "-ltn"):
                break
            time.sleep(0.05)
        out = ns_run(client_ns, "iperf3", "-c", server_ip, "-t", "3", "-J")
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        server.kill()
        server.wait()


def throughput(tmp: str, rounds: int) -> None:
    """Overlay path (pod -> bridge -> vxlan -> veth underlay -> vxlan -> bridge -> pod)."""
    from cni_plugins.plugin import run

    pods = {}
    nodes = {"a": ("10.244.61.0/24", "172.31.251.1"), "b": ("10.244.62.0/24", "172.31.251.2")}
    names = {k: netns(f"node{k}") for k in nodes}
    subprocess.run(["ip", "link", "add", "u0", "netns", names["a"], "type", "veth", "peer",
                    "name", "u0", "netns", names["b"]], check=True)
    local = {}
    for k, (subnet, under) in nodes.items():
        ns_run(names[k], "ip", "addr", "add", f"{under}/24", "dev", "u0")
        ns_run(names[k], "ip", "link", "set", "u0", "up")
        pod = netns(f"pod{k}")
        conf = {"cniVersion": "1.0.0", "name": f"tp{k}", "type": "mkp-bridge", "mtu": 1450,
                "ipam": {"type": "mkp-local", "subnet": subnet, "dataDir": f"{tmp}/tp"}}
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": pod, "CNI_NETNS": f"/run/netns/{pod}",
               "CNI_IFNAME": "eth0", "CNI_PATH": REF_DIR}
        with entered(f"/run/netns/{names[k]}"):
            rc, out = run(env, json.dumps(conf).encode())
            assert rc == 0, out
            forwarding.ensure(ipaddress.IPv4Network("10.244.0.0/16"))
        pods[k] = (pod, json.loads(out)["ips"][0]["address"].split("/")[0])
        with open_iproute(f"/run/netns/{names[k]}") as ipr:
            index, mac = overlay.ensure_device(ipr, overlay.find_underlay(ipr, iface="u0"),
                                               ipaddress.IPv4Network(subnet))
        local[k] = (index, overlay.Remote(k, ipaddress.IPv4Network(subnet), mac,
                                          ipaddress.IPv4Address(under)))
    for here, there in (("a", "b"), ("b", "a")):
        with open_iproute(f"/run/netns/{names[here]}") as ipr:
            overlay.reconcile(ipr, local[here][0], [local[there][1]])
    va, vb = netns("vetha"), netns("vethb")
    subprocess.run(["ip", "link", "add", "v0", "netns", va, "type", "veth", "peer", "name", "v0",
                    "netns", vb], check=True)
    for name, ip in ((va, "10.99.0.1"), (vb, "10.99.0.2")):
        ns_run(name, "ip", "addr", "add", f"{ip}/24", "dev", "v0")
        ns_run(name, "ip", "link", "set", "v0", "up")
    overs, plains = [], []
    for _ in range(rounds):  # alternate, so load from other processes hits both alike
        overs.append(iperf(pods["a"][0], pods["b"][0], pods["b"][1]))
        plains.append(iperf(va, vb, "10.99.0.2"))
    over, plain = statistics.median(overs), statistics.median(plains)
    print(f"TCP throughput (median of {rounds} x 3 s): overlay {over:.2f} Gbit/s, "
          f"plain veth {plain:.2f} Gbit/s, ratio {over / plain:.2f} (goal >= 0.70)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--fallback-iterations", type=int, default=20)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="iperf3 runs per path")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/cni.py needs root (network namespaces)", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="mkpb-cni-") as tmp:
            latency(args.iterations, args.fallback_iterations, tmp)
            if not args.no_throughput:
                throughput(tmp, args.rounds)
    finally:
        remove_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
