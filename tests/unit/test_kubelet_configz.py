"""The kubelet's /configz: the body's KubeletConfiguration fields and the api-server's
nodes/x/proxy/configz path parsing (who may read it: test_kubelet_webhook_auth.py)."""

from __future__ import annotations

import dataclasses

import pytest

from agent.kubelet.configz import configz, go_duration
from agent.settings import AgentSettings
from minikube_py.api import errors
from minikube_py.api.resources import NODES, PODS
from minikube_py.apiserver.target import parse

SETTINGS = AgentSettings(node_name="n1", service_cidr="10.100.0.0/16",
                         cluster_domain="corp.example", resolv_conf="/run/resolv.conf",
                         max_pods=42)


def test_body_is_a_kubelet_configuration_with_the_dns_settings() -> None:
    config = configz(SETTINGS, 10250)["kubeletconfig"]
    assert config["kind"] == "KubeletConfiguration"
    assert config["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert config["clusterDNS"] == ["10.100.0.10"]  # the 10th address of the service range
    assert config["clusterDomain"] == "corp.example"
    assert config["resolvConf"] == "/run/resolv.conf"
    assert (config["maxPods"], config["port"]) == (42, 10250)
    assert config["syncFrequency"] == "10s" and config["nodeStatusReportFrequency"] == "1m0s"


def test_explicit_and_empty_cluster_dns() -> None:
    two = dataclasses.replace(SETTINGS, cluster_dns=["10.0.0.53", "10.0.0.54"])
    assert configz(two, 1)["kubeletconfig"]["clusterDNS"] == ["10.0.0.53", "10.0.0.54"]
    assert configz(dataclasses.replace(SETTINGS, cluster_dns=[]), 1)[
        "kubeletconfig"]["clusterDNS"] == []


@pytest.mark.parametrize(("seconds", "text"), [(10, "10s"), (60, "1m0s"), (90, "1m30s"),
                                               (3600, "1h0m0s"), (1.5, "1.5s"), (0, "0s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_nodes_proxy_path_parses_and_others_do_not() -> None:
    target = parse("", "v1", ["nodes", "n1", "proxy", "configz"], "/x")
    assert (target.resource, target.name, target.subresource, target.proxy_path) == (
        NODES, "n1", "proxy", "configz")
    assert parse("", "v1", ["nodes", "n1", "proxy"], "/x").proxy_path == ""
    for parts in (["nodes", "n1", "status", "x"],
                  ["namespaces", "d", "pods", "p", "proxy", "configz"]):
        with pytest.raises(errors.StatusError) as e:
            parse("", "v1", parts, "/x")
        assert e.value.code == 404
    assert parse("", "v1", ["namespaces", "d", "pods", "p", "log"], "/x").resource is PODS

