"""Which LoadBalancer addresses a node campaigns for: VIP-mode pool addresses (not node
addresses), with a local ready endpoint for Local, while Ready for Cluster."""

from __future__ import annotations

from typing import Any

import pytest

from agent.announcer import eligible
from tests.fixtures import builders


def lb(name: str, ip: str, policy: str = "Cluster", mode: str = "VIP") -> dict[str, Any]:
    svc = builders.service(name, "ns", type="LoadBalancer",
                           spec={"externalTrafficPolicy": policy})
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": mode}]}}
    return svc


def node(name: str, ip: str, ready: bool = True) -> dict[str, Any]:
    n = builders.node(name, ready=ready)
    n["status"]["addresses"] = [{"type": "InternalIP", "address": ip}]
    return n


def endpoints_on(name: str, node_name: str) -> dict[str, Any]:
    ep = builders.endpoints(name, "ns", ips=["10.244.1.9"])
    ep["subsets"][0]["addresses"][0]["nodeName"] = node_name
    return ep


NODES = [node("a", "192.168.1.11"), node("b", "192.168.1.12", ready=False)]


@pytest.mark.parametrize(("services", "endpoints", "me", "expected"), [
    pytest.param([lb("web", "192.168.1.200")], {}, "a", {"192.168.1.200"}, id="cluster-ready"),
    pytest.param([lb("web", "192.168.1.200")], {}, "b", set(), id="cluster-not-ready"),
    pytest.param([lb("web", "192.168.1.200", "Local")], {"ns/web": endpoints_on("web", "b")},
                 "b", {"192.168.1.200"}, id="local-with-endpoint-even-not-ready"),
    pytest.param([lb("web", "192.168.1.200", "Local")], {"ns/web": endpoints_on("web", "b")},
                 "a", set(), id="local-without-endpoint"),
    pytest.param([lb("web", "192.168.1.11")], {}, "a", set(), id="node-address-servicelb"),
    pytest.param([lb("web", "192.168.1.200", mode="Proxy")], {}, "a", set(), id="proxy-mode"),
    pytest.param([lb("web", "192.168.1.200", "Local"), lb("dns", "192.168.1.200")], {}, "a",
                 {"192.168.1.200"}, id="shared-any-sharer-makes-eligible"),
])
def test_eligible(services: list[dict[str, Any]], endpoints: dict[str, dict[str, Any]],
                  me: str, expected: set[str]) -> None:
    assert eligible(services, endpoints, NODES, me) == expected
