"""Benchmark: NetworkPolicy enforcement at 500 pods x 200 policies.

    rule programming   plan + ipset restore + iptables-restore of 200 policies over 500 pods
                       into a fresh netns (cold), again over itself (warm), and after one pod
                       was added (what a pod start costs while policies exist)
    throughput         iperf3 TCP between two pod namespaces routed through a node namespace
                       (the FORWARD path pod traffic takes, conntrack on as on any node),
                       with no policy, then with the 200 policies in place, the server's pod
                       selected by some of them and let in by one more (first checked: the
                       client is dropped without that one); the ratio is with / without,
                       the median of alternated pairs

Goals (issue #20): programming < 2 s; throughput with policies >= 90% of without.
Everything happens in throwaway network namespaces, removed at the end (even on failure).
Run as root:  .venv/bin/python bench/netpol.py [--pods 500] [--policies 200] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

from support import alternated_rounds

from agent.netpol.enforcer import apply
from agent.netpol.policy import Planner, Pod
from cni_plugins import iptables_runner

NODE = "bench-node"
# The measured pods' subnets, apart from the generated pods' (10.244.0-1.x).
CLIENT_NET, SERVER_NET = 200, 201
SERVER_IP = f"10.244.{SERVER_NET}.2"


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def namespaces(*names: str) -> Iterator[dict[str, str]]:
    made = {n: f"mkpb-np-{n}-{uuid.uuid4().hex[:6]}" for n in names}
    try:
        for real in made.values():
            run("ip", "netns", "add", real)
            run("ip", "netns", "exec", real, "ip", "link", "set", "lo", "up")
        yield made
    finally:
        for real in made.values():
            run("ip", "netns", "del", real, check=False)


def cluster(n_pods: int, n_policies: int) -> tuple[list[Pod], dict[str, dict[str, str]],
                                                   list[dict[str, Any]]]:
    """n pods over 20 namespaces, all on this node (the worst case: every policy selects
    pods here, every peer set is full), n policies each selecting one app,
    allowing ingress from two namespaces' pods of another app on a named and a numbered
    port, and egress to an ipBlock: shapes from the network-policy test matrix."""
    namespaces = {f"ns{i}": {"team": f"t{i % 5}", "name": f"ns{i}"} for i in range(20)}
    ports = (("http", "TCP", 8080), ("metrics", "TCP", 9090))
    pods = [Pod(f"ns{i % 20}", f"p{i}", f"10.244.{i // 250}.{i % 250 + 2}",
                {"app": f"a{i % 50}", "tier": f"t{i % 3}"},
                NODE, ports) for i in range(n_pods)]
    policies = [{"metadata": {"namespace": f"ns{k % 20}", "name": f"pol-{k}"}, "spec": {
        "podSelector": {"matchLabels": {"app": f"a{k % 50}"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": f"t{k % 5}"}},
                               "podSelector": {"matchLabels": {"tier": f"t{k % 3}"}}},
                              {"podSelector": {"matchLabels": {"app": f"a{(k + 1) % 50}"}}}],
                     "ports": [{"port": "http"}, {"port": 5000, "endPort": 5010}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}}]},
                   {"ports": [{"port": 53, "protocol": "UDP"}]}]}} for k in range(n_policies)]
    return pods, namespaces, policies


def program(pods: list[Pod], namespaces: dict[str, dict[str, str]],
            policies: list[dict[str, Any]], netns: str) -> float:
    started = time.perf_counter()
    apply(Planner(pods, namespaces, NODE).plan(policies), netns)
    return time.perf_counter() - started


def wire(ns: dict[str, str]) -> None:
    """client 10.244.200.2 and server 10.244.201.2, each a veth into the node, routed."""
    node = ns["node"]
    run("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for i, name in ((CLIENT_NET, "client"), (SERVER_NET, "server")):
        ip, host = f"10.244.{i}.2", f"h{i}"
        run("ip", "-n", node, "link", "add", host, "type", "veth", "peer", "name", "eth0",
            "netns", ns[name])
        run("ip", "-n", node, "addr", "add", f"10.244.{i}.1/24", "dev", host)
        run("ip", "-n", node, "link", "set", host, "up")
        run("ip", "-n", ns[name], "addr", "add", f"{ip}/24", "dev", "eth0")
        run("ip", "-n", ns[name], "link", "set", "eth0", "up")
        run("ip", "-n", ns[name], "route", "add", "default", "via", f"10.244.{i}.1")
    # A real node tracks connections anyway (the proxy's NAT, Docker's and the agent's
    # forwarding accepts): the baseline pays for conntrack as the policies' node does.
    iptables_runner.firewall(node).restore_sync(
        "*filter\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n")


@contextlib.contextmanager
def iperf_server(ns: dict[str, str]) -> Iterator[None]:
    """iperf3 listening on the server pod's port 5201 in the server pod for one test."""
    server = subprocess.Popen(["ip", "netns", "exec", ns["server"], "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if "5201" in run("ip", "netns", "exec", ns["server"], "ss", "-ltnH").stdout:
                break
            time.sleep(0.1)
        yield
    finally:
        server.kill()
        server.wait()


def iperf(ns: dict[str, str], seconds: int) -> float:
    """Gbit/s from client to server (one TCP stream)."""
    with iperf_server(ns):
        out = run("ip", "netns", "exec", ns["client"], "iperf3", "-c", SERVER_IP, "-t",
                  str(seconds), "-J").stdout
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e9


def connects(ns: dict[str, str]) -> bool:
    """Whether the client's TCP connect to the server's iperf3 port succeeds within 1 s."""
    probe = f"import socket; socket.create_connection(('{SERVER_IP}', 5201), 1)"
    with iperf_server(ns):
        return run("ip", "netns", "exec", ns["client"], sys.executable, "-c", probe,
                   check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=500)
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5, help="per iperf3 run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pods, nss, policies = cluster(args.pods, args.policies)
    print(f"network policy, {args.pods} pods x {args.policies} policies "
          f"({time.strftime('%H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f})")
    cold: list[float] = []
    warm: list[float] = []
    one_pod: list[float] = []
    for _ in range(args.rounds):
        with namespaces("prog") as ns:
            cold.append(program(pods, nss, policies, ns["prog"]))
            warm.append(program(pods, nss, policies, ns["prog"]))
            more = [*pods, Pod("ns0", "new", "10.244.9.9", {"app": "a0", "tier": "t0"}, NODE)]
            one_pod.append(program(more, nss, policies, ns["prog"]))
            plan = Planner(pods, nss, NODE).plan(policies)
    rules = sum(len(r) for r in plan.chains.values())
    for label, samples in (("programming (cold)", cold), ("programming (warm)", warm),
                           ("one pod added", one_pod)):
        print(f"  {label:22} best {min(samples):.3f} s  median {statistics.median(samples):.3f} s"
              "   goal < 2 s")
    print(f"  {len(plan.dispatch)} policy chains, {rules} rules, {len(plan.sets)} ipsets")

    # The server pod (ns0, app a0) is selected by the generated policies for a0 in ns0
    # (which do not let the client in) and by one more that does.
    server = Pod("ns0", "server", SERVER_IP, {"app": "a0", "tier": "t0"}, NODE,
                 (("http", "TCP", 5201),))
    client = Pod("ns1", "client", f"10.244.{CLIENT_NET}.2", {"app": "a1", "tier": "t1"}, "other-1")
    allow = {"metadata": {"namespace": "ns0", "name": "allow-iperf"}, "spec": {
        "podSelector": {"matchLabels": {"app": "a0"}},
        "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}]}}
    everyone = [*pods, server, client]
    without: list[float] = []
    with_policies: list[float] = []
    with namespaces("node", "client", "server") as ns:
        wire(ns)
        # The policies are really enforced on this path: without the allowing one the
        # client is dropped, with it let in.
        apply(Planner(everyone, nss, NODE).plan(policies), ns["node"])
        denied = not connects(ns)
        apply(Planner(everyone, nss, NODE).plan([*policies, allow]), ns["node"])
        allowed = connects(ns)
        apply(Planner([], {}, NODE).plan([]), ns["node"])
        if not (denied and allowed):
            raise SystemExit(f"policies not enforced: denied={denied} allowed={allowed}")
        for _, order in alternated_rounds(args.rounds, (False, True)):
            for policed in order:
                if policed:
                    apply(Planner(everyone, nss, NODE).plan([*policies, allow]), ns["node"])
                    with_policies.append(iperf(ns, args.seconds))
                    apply(Planner([], {}, NODE).plan([]), ns["node"])
                else:
                    without.append(iperf(ns, args.seconds))
    ratios = [w / o for w, o in zip(with_policies, without, strict=True)]
    ratio = statistics.median(ratios)
    print(f"  throughput without     median {statistics.median(without):.2f} Gbit/s")
    print(f"  throughput with        median {statistics.median(with_policies):.2f} Gbit/s"
          f"   ratio {ratio:.2f} (median of {args.rounds} alternated pairs)   goal >= 0.90")
    print("  pairs: " + " ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
