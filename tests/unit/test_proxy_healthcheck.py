"""Service health checks: kube-proxy's body, and which Services a proxier serves on which
healthCheckNodePort with how many local endpoints."""

from __future__ import annotations

import json

from agent.proxy.healthcheck import ServiceHealth, body
from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings


def test_body_is_kube_proxys() -> None:
    text = body(ServiceHealth("ns", "web", 2), True)
    assert text == ('{\n\t"service": {\n\t\t"namespace": "ns",\n\t\t"name": "web"\n\t},\n'
                    '\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}')
    assert json.loads(body(ServiceHealth("ns", "web", 0), False))["serviceProxyHealthy"] is False


def service(policy: str, port: int, kind: str = "LoadBalancer") -> dict[str, object]:
    return {"metadata": {"namespace": "ns", "name": "web"},
            "spec": {"type": kind, "clusterIP": "10.96.0.9", "externalTrafficPolicy": policy,
                     "healthCheckNodePort": port, "ports": [{"name": "a", "port": 80},
                                                            {"name": "b", "port": 81}]}}


def test_local_load_balancers_are_served_with_their_local_endpoint_count() -> None:
    p = Proxier(None, ProxySettings(node_name="n1"))
    p.set_service(service("Local", 31000))
    addresses = [{"ip": "10.244.1.2", "nodeName": "n1"}, {"ip": "10.244.2.2", "nodeName": "n2"}]
    p.set_endpoints({"metadata": {"namespace": "ns", "name": "web"}, "subsets": [
        {"addresses": addresses, "ports": [{"name": "a", "port": 8080},
                                           {"name": "b", "port": 8081}]}]})
    assert p.service_health() == {31000: ServiceHealth("ns", "web", 1)}  # pods, not ports
    p.set_service(service("Cluster", 31000))
    assert p.service_health() == {}
    p.set_service(service("Local", 31000))
    p.delete_service(service("Local", 31000))
    assert p.service_health() == {}
