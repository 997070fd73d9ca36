"""Benchmark: native nftables (kube-proxy's nftables-mode ruleset) at 1,000 and 10,000 services.

Issue #5 wants one changed service <= 0.5 s *and* a full sync <= 3 s at 10,000 services x 5
endpoints. iptables-legacy meets the full sync but copies its whole ~50 MB nat table out and back
for any change (~0.5-0.6 s); iptables-nft takes minutes. Before writing a native nftables backend
we want its cost on this kernel, measured with no Python of ours in the way: the text that
kube-proxy's nftables proxier (pkg/proxy/nftables/proxier.go, via knftables) would write, fed to
one `nft -f -` per transaction in a throwaway network namespace.

The ruleset (table `ip kube-proxy`):
    nat-prerouting / nat-output  -> services: ip daddr . meta l4proto . th dport vmap @service-ips
    service-ips elements         ClusterIP . tcp . 80 : goto service-<hash>-<ns>/<svc>/tcp/http
    service-... chain            ip daddr CIP tcp dport 80 ip saddr != 10.244.0.0/16 jump
                                 mark-for-masquerade; numgen random mod 5 vmap {0 : goto endpoint-..}
    endpoint-... chain           ip saddr EP jump mark-for-masquerade; meta l4proto tcp dnat to EP
    nat-postrouting -> masquerading (marked packets: masquerade fully-random)
    filter hooks -> endpoints-check (@no-endpoint-services -> reject-chain), firewall-check
Every chain is written `add chain` first (knftables' ensureChain), each map element on its own
`add element` line (one knftables Element each), as kube-proxy does.

Measures, each repeated (best / median wall clock of the nft process, its user and sys CPU;
a sample slower than TOO_SLOW_TO_REPEAT is taken once):
    full load          the whole ruleset into an empty namespace, one transaction
    full resync        the same again over the loaded table (add+flush every chain, flush maps:
                       kube-proxy's full sync)
    no-op transaction  `add table` only, over the loaded table: nft's fixed cost at this size
    one change         flush+rewrite one service chain, add a new endpoint chain, delete the old
                       one, replace the service's service-ips element: one transaction
for three ways a service chain picks its endpoint chain (Shape.dispatch): kube-proxy's anonymous
vmap, a numgen cascade of plain rules, and one shared named vmap. Then variants of kube-proxy's
full load, to see where the time goes: `jump` instead of `goto`; all elements in one `add
element` command; elements in a second transaction; no endpoint chains (the service chain DNATs
through a numgen map: not the same semantics, a cost probe only); 500 services a transaction.

Run as root:  .venv/bin/python bench/proxy_nft_native.py [--sizes 1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import os
import resource
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

ENDPOINTS = 5
TABLE = "ip kube-proxy"
CLUSTER_CIDR = "10.244.0.0/16"
MASQ_MARK = "0x4000"
SERVICE_BASE = int(ipaddress.IPv4Address("10.96.0.1"))
ENDPOINT_BASE = int(ipaddress.IPv4Address("10.244.0.1"))
TIMEOUT = 600.0  # a transaction slower than this is reported as such, not waited for
TOO_SLOW_TO_REPEAT = 20.0  # seconds: a sample this slow is not repeated
BATCH = 500  # services per transaction in the batched variant


@dataclass(frozen=True)
class Shape:
    """How the ruleset is written: kube-proxy's by default, the rest are cost probes."""

    verdict: str = "goto"          # the verb of every vmap value
    batch_elements: bool = False   # all service-ips elements in one `add element`
    endpoint_chains: bool = True   # False: DNAT straight from the service chain
    # How a service chain picks an endpoint chain:
    #   vmap        kube-proxy: numgen random mod N vmap { 0 : goto ..., }  (an anonymous map
    #               per service chain)
    #   cascade     no set at all: numgen random mod (N-k) == 0 goto ep_k, ..., goto ep_last
    #               (the iptables statistic cascade: same distribution)
    #   shared-map  one named map for all services: ip daddr . numgen random mod N vmap
    #               @service-endpoints (keyed by ClusterIP: external IPs would need another key)
    dispatch: str = "vmap"


KUBE_PROXY = Shape()
SHAPES = [("kube-proxy shape (anonymous vmap per service)", KUBE_PROXY),
          ("no anonymous sets: numgen cascade of rules", Shape(dispatch="cascade")),
          ("no anonymous sets: one shared named vmap", Shape(dispatch="shared-map"))]


@dataclass
class Cluster:
    """N services, each with ENDPOINTS endpoint IPs (mutated by the change measures)."""

    n: int
    endpoints: list[list[str]]
    next_ip: int

    @classmethod
    def build(cls, n: int) -> Cluster:
        eps = [[ip(ENDPOINT_BASE + i * ENDPOINTS + k) for k in range(ENDPOINTS)] for i in range(n)]
        return cls(n, eps, ENDPOINT_BASE + n * ENDPOINTS)

    def fresh_ip(self) -> str:
        self.next_ip += 1
        return ip(self.next_ip)


def ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def hashed(name: str) -> str:
    """kube-proxy's hashAndTruncate: 8 base32 chars of sha256, then the readable name."""
    return base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8] + "-" + name


def port_name(i: int) -> str:
    return f"ns{i % 50}/svc-{i}/tcp/http"


def service_chain(i: int) -> str:
    return "service-" + hashed(port_name(i))


def endpoint_chain(i: int, ep: str) -> str:
    return "endpoint-" + hashed(f"{port_name(i)}__{ep}/8080")


def cluster_ip(i: int) -> str:
    return ip(SERVICE_BASE + i)


def element(i: int, shape: Shape) -> str:
    return f"{cluster_ip(i)} . tcp . 80 : {shape.verdict} {service_chain(i)}"


def base_lines(resync: bool, shape: Shape) -> Iterator[str]:
    """setupNFTables: hooks, top-level chains, maps (flushed on a resync) and their rules."""
    yield f'add table {TABLE} {{ comment "rules for kube-proxy" ; }}'
    # dstnat - 10, dstnat and srcnat (nft 1.0.6 only names dstnat on prerouting)
    hooks = [("filter-prerouting", "filter", "prerouting", "-110"),
             ("filter-input", "filter", "input", "-110"),
             ("filter-forward", "filter", "forward", "-110"),
             ("filter-output", "filter", "output", "-110"),
             ("nat-prerouting", "nat", "prerouting", "-100"),
             ("nat-output", "nat", "output", "-100"),
             ("nat-postrouting", "nat", "postrouting", "100")]
    for name, kind, hook, prio in hooks:
        yield f"add chain {TABLE} {name} {{ type {kind} hook {hook} priority {prio} ; }}"
        yield f"flush chain {TABLE} {name}"
    for name in ("endpoints-check", "firewall-check", "services", "masquerading",
                 "mark-for-masquerade", "reject-chain"):
        yield f"add chain {TABLE} {name}"
        yield f"flush chain {TABLE} {name}"
    for src, extra, dst in [("filter-input", "ct state new ", "endpoints-check"),
                            ("filter-forward", "ct state new ", "endpoints-check"),
                            ("filter-output", "ct state new ", "endpoints-check"),
                            ("filter-prerouting", "ct state new ", "firewall-check"),
                            ("filter-output", "ct state new ", "firewall-check"),
                            ("nat-output", "", "services"), ("nat-prerouting", "", "services"),
                            ("nat-postrouting", "", "masquerading")]:
        yield f"add rule {TABLE} {src} {extra}jump {dst}"
    yield f"add rule {TABLE} mark-for-masquerade mark set mark or {MASQ_MARK}"
    yield f"add rule {TABLE} masquerading mark and {MASQ_MARK} == 0 return"
    yield f"add rule {TABLE} masquerading mark set mark xor {MASQ_MARK}"
    yield f"add rule {TABLE} masquerading masquerade fully-random"
    yield f"add rule {TABLE} reject-chain reject"
    key = "ipv4_addr . inet_proto . inet_service : verdict"
    for name, kind in [("no-endpoint-services", key), ("firewall-ips", key),
                       ("service-ips", key),
                       ("no-endpoint-nodeports", "inet_proto . inet_service : verdict"),
                       ("service-nodeports", "inet_proto . inet_service : verdict")]:
        yield f"add map {TABLE} {name} {{ type {kind} ; }}"
        if resync:
            yield f"flush map {TABLE} {name}"
    if shape.dispatch == "shared-map":
        yield (f"add map {TABLE} service-endpoints "
               f"{{ typeof ip daddr . numgen random mod {ENDPOINTS} : verdict ; }}")
        if resync:
            yield f"flush map {TABLE} service-endpoints"
    vmap = "ip daddr . meta l4proto . th dport vmap"
    yield f"add rule {TABLE} endpoints-check {vmap} @no-endpoint-services"
    yield f"add rule {TABLE} firewall-check {vmap} @firewall-ips"
    yield f"add rule {TABLE} services {vmap} @service-ips"
    yield (f"add rule {TABLE} services fib daddr type local ip daddr != 127.0.0.0/8 "
           "meta l4proto . th dport vmap @service-nodeports")


def service_lines(i: int, eps: list[str], shape: Shape) -> Iterator[str]:
    """One service port's chains and rules (ensureChain: add + flush, then the rules)."""
    svc = service_chain(i)
    chains = [svc] + ([endpoint_chain(i, ep) for ep in eps] if shape.endpoint_chains else [])
    for chain in chains:
        yield f"add chain {TABLE} {chain}"
        yield f"flush chain {TABLE} {chain}"
    yield (f"add rule {TABLE} {svc} ip daddr {cluster_ip(i)} tcp dport 80 "
           f"ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade")
    if shape.endpoint_chains:
        yield from dispatch_lines(i, svc, chains[1:], shape)
        for ep, chain in zip(eps, chains[1:]):
            yield f"add rule {TABLE} {chain} ip saddr {ep} jump mark-for-masquerade"
            yield f"add rule {TABLE} {chain} meta l4proto tcp dnat to {ep}:8080"
    else:
        targets = ", ".join(f"{k} : {ep}" for k, ep in enumerate(eps))
        yield (f"add rule {TABLE} {svc} meta l4proto tcp "
               f"dnat to numgen random mod {len(eps)} map {{ {targets} }} : 8080")


def dispatch_lines(i: int, svc: str, targets: list[str], shape: Shape) -> Iterator[str]:
    """The service chain's pick of an endpoint chain (see Shape.dispatch)."""
    n, verdict = len(targets), shape.verdict
    if shape.dispatch == "vmap":
        pairs = ", ".join(f"{k} : {verdict} {chain}" for k, chain in enumerate(targets))
        yield f"add rule {TABLE} {svc} numgen random mod {n} vmap {{ {pairs} }}"
    elif shape.dispatch == "cascade":
        for k, chain in enumerate(targets[:-1]):
            yield f"add rule {TABLE} {svc} numgen random mod {n - k} == 0 {verdict} {chain}"
        yield f"add rule {TABLE} {svc} {verdict} {targets[-1]}"
    else:
        yield f"add rule {TABLE} {svc} ip daddr . numgen random mod {n} vmap @service-endpoints"
        pairs = ", ".join(f"{cluster_ip(i)} . {k} : {verdict} {chain}"
                          for k, chain in enumerate(targets))
        yield f"add element {TABLE} service-endpoints {{ {pairs} }}"


def ruleset(cluster: Cluster, shape: Shape, *, resync: bool = False,
            elements: bool = True) -> str:
    lines = list(base_lines(resync, shape))
    for i, eps in enumerate(cluster.endpoints):
        lines.extend(service_lines(i, eps, shape))
    lines.extend(element_lines(cluster, shape) if elements else [])
    return "\n".join(lines) + "\n"


def element_lines(cluster: Cluster, shape: Shape) -> list[str]:
    if shape.batch_elements:
        joined = ", ".join(element(i, shape) for i in range(cluster.n))
        return [f"add element {TABLE} service-ips {{ {joined} }}"]
    return [f"add element {TABLE} service-ips {{ {element(i, shape)} }}"
            for i in range(cluster.n)]


def change(cluster: Cluster, i: int, shape: Shape) -> str:
    """kube-proxy's incremental sync of service i after its first endpoint was replaced."""
    old, new = cluster.endpoints[i][0], cluster.fresh_ip()
    cluster.endpoints[i][0] = new
    lines = []
    if shape.dispatch == "shared-map":  # its old elements name the old chain
        keys = ", ".join(f"{cluster_ip(i)} . {k}" for k in range(len(cluster.endpoints[i])))
        lines.append(f"delete element {TABLE} service-endpoints {{ {keys} }}")
    lines += service_lines(i, cluster.endpoints[i], shape)
    stale = endpoint_chain(i, old)
    lines += [f"delete element {TABLE} service-ips {{ {cluster_ip(i)} . tcp . 80 }}",
              f"add element {TABLE} service-ips {{ {element(i, shape)} }}",
              f"flush chain {TABLE} {stale}", f"delete chain {TABLE} {stale}"]
    return "\n".join(lines) + "\n"


@dataclass
class Run:
    wall: float
    user: float
    sys: float


def nft(ns: str, text: str) -> Run:
    """One `nft -f -` transaction in ns: wall clock, and the child's CPU from rusage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=text.encode(),
                          capture_output=True, timeout=TIMEOUT, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"nft failed: {done.stderr.decode()[:2000]}")
    return Run(wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


def drop_table(ns: str) -> float:
    """Removes the table (between cold loads); returns how long the kernel took."""
    return nft(ns, f"delete table {TABLE}\n").wall


def transactions(ns: str, texts: list[str]) -> Run:
    """Several transactions in a row, as one figure (their sums)."""
    runs = [nft(ns, text) for text in texts]
    return Run(*(sum(getattr(r, f) for r in runs) for f in ("wall", "user", "sys")))


def sampled(measure: Callable[[], Run], repeat: int) -> list[Run]:
    """Up to `repeat` samples; one only when it is far beyond any goal (minutes otherwise)."""
    runs = [measure()]
    while len(runs) < repeat and runs[0].wall < TOO_SLOW_TO_REPEAT:
        runs.append(measure())
    return runs


def report(label: str, runs: list[Run]) -> None:
    walls = [r.wall for r in runs]
    user = statistics.median(r.user for r in runs)
    sys_ = statistics.median(r.sys for r in runs)
    note = "" if len(runs) > 1 else "  (1 sample)"
    print(f"    {label:<42} best {min(walls):7.3f} s  median {statistics.median(walls):7.3f} s"
          f"   (user {user:6.3f}, sys {sys_:6.3f}){note}", flush=True)


def cold(ns: str, texts: list[str]) -> Callable[[], Run]:
    """A measure: the texts as transactions into an empty namespace, then the table dropped."""
    def measure() -> Run:
        try:
            return transactions(ns, texts)
        finally:
            drop_table(ns)
    return measure


def measure_shape(ns: str, n: int, shape: Shape, repeat: int) -> None:
    """Full load, full resync, no-op and one change for one shape of the ruleset."""
    cluster = Cluster.build(n)
    text = ruleset(cluster, shape)
    print(f"  {sum(1 for _ in text.splitlines()):,} lines, {len(text) / 1e6:.1f} MB", flush=True)
    report("full load", sampled(cold(ns, [text]), repeat))
    nft(ns, text)
    resync = ruleset(cluster, shape, resync=True)
    report("full resync over the loaded table", sampled(lambda: nft(ns, resync), repeat))
    report("no-op transaction (add table)", [nft(ns, f"add table {TABLE}\n")
                                            for _ in range(repeat)])
    picks = [n * (k + 1) // (repeat + 1) for k in range(repeat)]
    report("one changed service", [nft(ns, change(cluster, i, shape)) for i in picks])
    print(f"    (delete table: {drop_table(ns):.3f} s)", flush=True)


def probe(ns: str, n: int, repeat: int) -> None:
    """Variants of the kube-proxy shape's full load, each cold, to see where the time goes."""
    cluster = Cluster.build(n)
    variants = [
        ("jump instead of goto", [ruleset(cluster, Shape(verdict="jump"))]),
        ("one `add element` for all", [ruleset(cluster, Shape(batch_elements=True))]),
        ("no endpoint chains (numgen map DNAT)", [ruleset(cluster, Shape(
            endpoint_chains=False))]),
        ("elements in a 2nd transaction (sum)", [
            ruleset(cluster, KUBE_PROXY, elements=False),
            "\n".join(element_lines(cluster, KUBE_PROXY)) + "\n"]),
        (f"{BATCH} services per transaction (sum)", batched(cluster, KUBE_PROXY)),
    ]
    for label, texts in variants:
        report(label, sampled(cold(ns, texts), repeat))


def batched(cluster: Cluster, shape: Shape) -> list[str]:
    """The full load as several transactions of BATCH services (not atomic as a whole)."""
    texts = ["\n".join(base_lines(False, shape)) + "\n"]
    for first in range(0, cluster.n, BATCH):
        lines = []
        for i in range(first, min(first + BATCH, cluster.n)):
            lines.extend(service_lines(i, cluster.endpoints[i], shape))
            lines.append(f"add element {TABLE} service-ips {{ {element(i, shape)} }}")
        texts.append("\n".join(lines) + "\n")
    return texts


def bench(ns: str, n: int, repeat: int, variants: bool) -> None:
    print(f"{n} services x {ENDPOINTS} endpoints ({time.strftime('%H:%M:%S', time.gmtime())} UTC, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    for label, shape in SHAPES:
        print(f"  {label}:", flush=True)
        measure_shape(ns, n, shape, repeat)
    if variants:
        print("  kube-proxy shape, variants of the full load:", flush=True)
        probe(ns, n, repeat)
    print(f"  ({time.strftime('%H:%M:%S', time.gmtime())} UTC, load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-variants", action="store_true",
                        help="only the kube-proxy shape (skip the cost probes)")
    args = parser.parse_args()
    ns = f"mkpnft-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        version = subprocess.run(["nft", "--version"], capture_output=True, text=True,
                                 check=False).stdout
        print(f"{version.strip()}, kernel {os.uname().release}, netns {ns}")
        for n in (int(s) for s in args.sizes.split(",") if s):
            bench(ns, n, args.repeat, not args.no_variants)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
