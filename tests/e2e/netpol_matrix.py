"""The upstream network-policy matrix's world on a lab (Kubernetes test/e2e/network/netpol):
namespaces x, y, z (labelled ns=<name>), pods a, b, c in each (labelled pod=<name>; a, b
and c pinned to the first, second and third node, so some pairs cross the overlay and
some stay on one node's bridge), each answering its own "ns/name" on ports 80 and 81
(named serve-80-tcp and serve-81-tcp, as upstream's agnhost pods).

`observe` probes every pair on both ports at once: one `docker exec` per source pod, whose
shell starts all its connections in the background, each with a 1 s timeout, so a whole
matrix costs about one timeout. `validate` polls until what is observed is what a case
expects, or fails with upstream's truth tables.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agent.kubelet.images import BUSYBOX_IMAGE
from tests.e2e.cluster_support import app_container, docker_client
from tests.fixtures.reachability import Pair, Reachability

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PODS = [f"{ns}/{name}" for ns in NAMESPACES for name in POD_NAMES]
PORTS = (80, 81)
PROBE_TIMEOUT = 1  # s: a dropped SYN waits this long; an answer comes in milliseconds
SERVE = ('mkdir -p /www && echo "$POD" > /www/index.html && httpd -p 80 -h /www && '
         "exec httpd -f -p 81 -h /www")
# Prints "<port> <target> <last line of the answer>" (empty when nothing answered).
PROBE = ('probe() { got=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | '
         f'nc -w {PROBE_TIMEOUT} "$2" "$1" 2>/dev/null | tail -n 1); echo "$1 $3 $got"; }}\n')


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"ns": name}}}


def pod(ref: str, nodes: list[str]) -> dict[str, Any]:
    """The matrix pod `ref` ("ns/name"), pinned to the node of its letter."""
    ns, name = ref.split("/")
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"pod": name}},
            "spec": {"nodeName": nodes[POD_NAMES.index(name) % len(nodes)],
                     "terminationGracePeriodSeconds": 0, "containers": [{
                         "name": "serve", "image": BUSYBOX_IMAGE,
                         "imagePullPolicy": "Never", "command": ["sh", "-c", SERVE],
                         "env": [{"name": "POD", "value": ref}],
                         "ports": [{"name": f"serve-{p}-tcp", "containerPort": p}
                                   for p in PORTS]}]}}


def everyone(allowed: bool = True) -> Reachability:
    return Reachability(PODS, allowed)


class Matrix:
    """The running matrix pods: "ns/name" -> address and pod uid."""

    def __init__(self, ips: Mapping[str, str], uids: Mapping[str, str]) -> None:
        self.ips, self.uids = dict(ips), dict(uids)

    def _probe_from(self, src: str) -> dict[tuple[int, str], bool]:
        script = PROBE + "".join(f"probe {port} {self.ips[dst]} {dst} &\n"
                                 for dst in PODS if dst != src for port in PORTS) + "wait\n"
        dc = docker_client()
        try:
            _, out = app_container(dc, self.uids[src]).exec_run(["sh", "-c", script])
        finally:
            dc.close()
        seen = {}
        for line in out.decode(errors="replace").splitlines():
            parts = line.split()  # "<port> <target> [its answer]"
            if len(parts) >= 2 and parts[0].isdigit():
                seen[(int(parts[0]), parts[1])] = parts[2:] == [parts[1]]
        return seen

    def observe(self) -> dict[int, dict[Pair, bool]]:
        """Every pair on every port, probed at once: port -> (from, to) -> answered."""
        with ThreadPoolExecutor(len(PODS)) as pool:
            by_source = dict(zip(PODS, pool.map(self._probe_from, PODS), strict=True))
        return {port: {(src, dst): ok for src, seen in by_source.items()
                       for (p, dst), ok in seen.items() if p == port} for port in PORTS}

    def validate(self, want: Mapping[int, Reachability], timeout: float = 30) -> None:
        """Poll until every port's observation is `want` (the agents program a change
        within moments); fail with the truth tables of the ports that still differ."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.observe()
            if not any(r.wrong(got[port]) for port, r in want.items()):
                return
            if time.monotonic() > deadline:
                pytest.fail("\n\n".join(r.report(got[port], f"TCP port {port}")
                                        for port, r in want.items() if r.wrong(got[port])))
            time.sleep(0.5)
