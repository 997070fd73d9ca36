"""CNI benchmark: our plugin vs Debian's reference Go bridge + host-local, same run.

    sudo .venv/bin/python bench/cni.py [--iterations 100] [--no-throughput | --no-latency]
                                       [--pairs 9] [--seconds 2] [--no-tunnel-gso]

1. ADD and DEL latency, p50/p99 over N pods, exec'd exactly as a runtime
   does (fork+exec, config on stdin), the two plugins interleaved so machine
   noise hits both alike. Ours runs as installed: the stdlib shim forwarding
   to the resident netlink service; the shim's in-process fallback (no
   service) is measured too, over fewer pods.
2. Pod-to-pod TCP throughput (iperf3) between two namespace nodes, the same
   pod pair once across the VXLAN overlay and once routed over the same
   underlay veth without it, plus a bare veth; rotated over many rounds and
   judged by the median of the per-round ratios (see `throughput`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import alternated_rounds
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

    plugins = [("ref", ref_node, f"{REF_DIR}/bridge", ref), ("ours", ours_node, ours_bin, ours)]
    with service(ours_node, sock):
        for ctr, (_, order) in zip(ctrs, alternated_rounds(len(ctrs), plugins), strict=True):
            for label, node, path, conf in order:
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


# -- throughput -------------------------------------------------------------------------------

NODES = (("a", "10.244.61.0/24", "172.31.251.1"), ("b", "10.244.62.0/24", "172.31.251.2"))
PATHS = ("overlay", "routed", "bare")
CPUS = sorted(os.sched_getaffinity(0))
PINNED = (f"iperf3 client on CPU {CPUS[0]}, server on CPU {CPUS[1]}" if len(CPUS) > 1
          else "iperf3 unpinned (one CPU)")
OFFLOADS = {"u0": ("tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
                   "tx-checksum-ip-generic", "rx-gro"),
            overlay.DEVICE: ("tx-tcp-segmentation", "tx-generic-segmentation",
                             "tx-checksum-ip-generic", "rx-gro")}


@dataclass
class Node:
    """A namespace node: underlay veth u0, cni0 with one pod from our plugin, mkp.vxlan."""

    ns: str
    subnet: ipaddress.IPv4Network
    underlay: ipaddress.IPv4Address
    pod: str = ""
    pod_ip: str = ""
    vxlan: int = 0
    mac: str = ""

    @property
    def path(self) -> str:
        return f"/run/netns/{self.ns}"

    def remote(self) -> overlay.Remote:
        return overlay.Remote(self.ns, self.subnet, self.mac, self.underlay)


def two_nodes(tmp: str) -> tuple[Node, Node]:
    """Two nodes as the agent builds them: pods from our plugin (MTU 1450), the overlay."""
    from cni_plugins.plugin import run

    a, b = (Node(netns(f"node{k}"), ipaddress.IPv4Network(subnet), ipaddress.IPv4Address(ip),
                 pod=netns(f"pod{k}")) for k, subnet, ip in NODES)
    subprocess.run(["ip", "link", "add", "u0", "netns", a.ns, "type", "veth", "peer", "name",
                    "u0", "netns", b.ns], check=True)
    for node in (a, b):
        ns_run(node.ns, "ip", "addr", "add", f"{node.underlay}/24", "dev", "u0")
        ns_run(node.ns, "ip", "link", "set", "u0", "up")
        conf = {"cniVersion": "1.0.0", "name": "tp", "type": "mkp-bridge", "mtu": 1450,
                "ipam": {"type": "mkp-local", "subnet": str(node.subnet), "dataDir": f"{tmp}/tp"}}
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": node.pod, "CNI_IFNAME": "eth0",
               "CNI_NETNS": f"/run/netns/{node.pod}", "CNI_PATH": REF_DIR}
        with entered(node.path):
            rc, out = run(env, json.dumps(conf).encode())
            assert rc == 0, out
            forwarding.ensure(ipaddress.IPv4Network("10.244.0.0/16"))
        node.pod_ip = json.loads(out)["ips"][0]["address"].split("/")[0]
        with open_iproute(node.path) as ipr:
            node.vxlan, node.mac = overlay.ensure_device(
                ipr, overlay.find_underlay(ipr, iface="u0"), node.subnet)
    return a, b


def route_over(path: str, here: Node, there: Node) -> None:
    """Send `here`'s traffic for `there`'s pods through the overlay, or routed on u0 as is."""
    if path == "overlay":
        with open_iproute(here.path) as ipr:
            overlay.reconcile(ipr, here.vxlan, [there.remote()])
    else:
        ns_run(here.ns, "ip", "route", "replace", str(there.subnet), "via", str(there.underlay),
               "dev", "u0")


def tx(node: Node, ifname: str) -> tuple[int, int]:
    """(bytes, packets) sent so far by `ifname` in the node."""
    with open_iproute(node.path) as ipr:
        stats = ipr.link("get", ifname=ifname)[0].get_attr("IFLA_STATS64")
    return stats["tx_bytes"], stats["tx_packets"]


@contextmanager
def ethtool(node: Node) -> Iterator[Any]:
    """pyroute2's ethtool (ioctl on a socket), opened inside the node's namespace."""
    from pyroute2.ethtool import Ethtool

    with entered(node.path):
        tool = Ethtool()
    try:
        yield tool
    finally:
        tool.close()


def drop_tunnel_gso(node: Node) -> None:
    """Make u0 a NIC without UDP-tunnel segmentation (`ethtool -K u0 tx-udp_tnl-* off`)."""
    with ethtool(node) as tool:
        feats = tool.get_features("u0")
        for name in ("tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation"):
            feats.features[name].enable = False
        tool.set_features("u0", feats)


def offloads(node: Node) -> str:
    """The offload features that decide whether GSO packets cross the tunnel unsplit."""
    with ethtool(node) as tool:
        feats = {dev: tool.get_features(dev).features for dev in OFFLOADS}
    with open_iproute(node.path) as ipr:
        info = ipr.link("get", index=node.vxlan)[0].get_attr("IFLA_LINKINFO")
    csum = info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_VXLAN_UDP_CSUM")
    return "; ".join([f"{dev} " + " ".join(f"{name}={'on' if feats[dev][name].enable else 'off'}"
                                           for name in names) for dev, names in OFFLOADS.items()]
                     + [f"{overlay.DEVICE} udpcsum={'on' if csum else 'off'}"])


def iperf(client_ns: str, server_ns: str, server_ip: str, seconds: int) -> float:
    """Gbit/s received; client and server pinned to two different CPUs when there are two."""
    pin = (["-A", str(CPUS[0])], ["-A", str(CPUS[1])]) if len(CPUS) > 1 else ([], [])
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", *pin[1]],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if ":5201 " in ns_run(server_ns, "ss", "-ltn"):
                break
            time.sleep(0.05)
        out = ns_run(client_ns, "iperf3", "-c", server_ip, "-t", str(seconds), "-J", *pin[0])
        return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e9
    finally:
        server.kill()
        server.wait()


def measure(path: str, a: Node, b: Node, bare: tuple[str, str], seconds: int
            ) -> tuple[float, float]:
    """One iperf3 run over `path`: (Gbit/s, mean bytes per frame on a's underlay).

    Checks from the counters that the traffic really took the path named: VXLAN
    carries it on "overlay" and nothing on "routed".
    """
    if path == "bare":
        return iperf(bare[0], bare[1], "10.99.0.2", seconds), 0.0
    for here, there in ((a, b), (b, a)):
        route_over(path, here, there)
    (u_bytes, u_pkts), (v_bytes, _) = tx(a, "u0"), tx(a, overlay.DEVICE)
    gbits = iperf(a.pod, b.pod, b.pod_ip, seconds)
    (u_bytes2, u_pkts2), (v_bytes2, _) = tx(a, "u0"), tx(a, overlay.DEVICE)
    on_vxlan = (v_bytes2 - v_bytes) / max(1, u_bytes2 - u_bytes)
    if (path == "overlay") != (on_vxlan > 0.5):
        raise RuntimeError(f"{path} run: {on_vxlan:.0%} of the underlay bytes went by VXLAN")
    return gbits, (u_bytes2 - u_bytes) / max(1, u_pkts2 - u_pkts)


def throughput(tmp: str, pairs: int, seconds: int, *, tunnel_gso: bool = True) -> None:
    """Overlay vs the same pod pair routed without VXLAN, alternated; the goal ratio.

    Both paths are pod veth -> cni0 -> node A -> u0 -> node B -> cni0 -> pod veth
    with the same MTUs (pods 1450, underlay 1500), conntrack and FORWARD rules;
    only the route to the other node's pods differs: via mkp.vxlan (encap/decap)
    or straight via the peer's underlay address (flannel's host-gw). The earlier
    baseline, two namespaces joined by one veth (MTU 1500, no bridge, no
    forwarding), is measured too ("bare"), to show what the pod plumbing costs.
    Without `tunnel_gso` the underlay behaves like a NIC that cannot segment
    UDP tunnels, so VXLAN packets are split to the MTU in software.
    """
    a, b = two_nodes(tmp)
    if not tunnel_gso:
        drop_tunnel_gso(a)
        drop_tunnel_gso(b)
    bare = (netns("vetha"), netns("vethb"))
    subprocess.run(["ip", "link", "add", "v0", "netns", bare[0], "type", "veth", "peer",
                    "name", "v0", "netns", bare[1]], check=True)
    for name, ip in zip(bare, ("10.99.0.1", "10.99.0.2")):
        ns_run(name, "ip", "addr", "add", f"{ip}/24", "dev", "v0")
        ns_run(name, "ip", "link", "set", "v0", "up")
    load = os.getloadavg()
    rows: list[dict[str, float]] = []
    frames: dict[str, list[float]] = {"overlay": [], "routed": []}
    for i, order in alternated_rounds(pairs, PATHS):
        row = {}
        for path in order:
            row[path], frame = measure(path, a, b, bare, seconds)
            if path in frames:
                frames[path].append(frame)
        rows.append(row)
        print(f"pair {i + 1}: " + "  ".join(f"{p} {row[p]:.2f}" for p in PATHS)
              + f"  overlay/routed {row['overlay'] / row['routed']:.2f}", flush=True)
    after = os.getloadavg()
    print(f"TCP throughput, Gbit/s: {pairs} pairs x 3 paths x {seconds} s, {PINNED}; "
          f"load average {load[0]:.2f} before, {after[0]:.2f} after")
    print(f"offloads on node a: {offloads(a)}")
    print("mean bytes per frame on the underlay: "
          + ", ".join(f"{p} {statistics.median(v):.0f}" for p, v in frames.items())
          + " (> MTU 1500: GSO packets cross unsplit)")
    for path in PATHS:
        print(f"  {path:8} median {statistics.median(r[path] for r in rows):6.2f}")
    for base, what in (("routed", "same pod pair without VXLAN (goal >= 0.70)"),
                       ("bare", "bare veth, no bridge or forwarding (earlier baseline)")):
        ratios = [r["overlay"] / r[base] for r in rows]
        print(f"ratio overlay/{base}: median {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}) -- {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--fallback-iterations", type=int, default=20)
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--no-throughput", action="store_true", help="latency only")
    part.add_argument("--no-latency", action="store_true", help="throughput only")
    parser.add_argument("--pairs", type=int, default=9, help="alternated iperf3 rounds")
    parser.add_argument("--seconds", type=int, default=2, help="length of one iperf3 run")
    parser.add_argument("--no-tunnel-gso", action="store_true",
                        help="underlay without UDP-tunnel segmentation offload")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/cni.py needs root (network namespaces)", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="mkpb-cni-") as tmp:
            if not args.no_latency:
                latency(args.iterations, args.fallback_iterations, tmp)
            if not args.no_throughput:
                throughput(tmp, args.pairs, args.seconds, tunnel_gso=not args.no_tunnel_gso)
    finally:
        remove_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
