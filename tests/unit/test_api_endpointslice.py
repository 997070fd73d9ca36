"""EndpointSlice strategy: defaults, validation causes, Table cells, discovery."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api import schema
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import ENDPOINTSLICES, for_kind, lookup
from minikube_py.apiserver import discovery

STRATEGY = strategy_for(ENDPOINTSLICES)


def slice_(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "default",
                     "creationTimestamp": "2024-01-01T00:00:00Z"},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
                      {"addresses": ["10.0.0.2"], "conditions": {"ready": False}}],
        "ports": [{"name": "http", "port": 8080}],
    }
    obj.update(overrides)
    return obj


def fields(obj: dict[str, Any]) -> dict[str, str]:
    STRATEGY.default(obj)
    return {c.field: c.message for c in STRATEGY.validate_create(obj)}


def test_resource_is_served_in_discovery_group() -> None:
    assert lookup("discovery.k8s.io", "v1", "endpointslices") is ENDPOINTSLICES
    assert for_kind("discovery.k8s.io/v1", "EndpointSlice") is ENDPOINTSLICES
    assert schema.definition_name(ENDPOINTSLICES) == "io.k8s.api.discovery.v1.EndpointSlice"
    assert "io.k8s.api.discovery.v1.EndpointSlice" in schema.definitions()


def test_valid_slice_is_defaulted_and_accepted() -> None:
    obj = slice_()
    assert fields(obj) == {}
    assert obj["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_unknown_field_is_pruned() -> None:
    obj = slice_(bogus=1)
    assert STRATEGY.default(obj) == ["bogus"]
    assert "bogus" not in obj


@pytest.mark.parametrize(("overrides", "path", "text"), [
    ({"addressType": None}, "addressType", "Required value"),
    ({"addressType": "IPv5"}, "addressType", "Unsupported value"),
    ({"endpoints": [{"addresses": []}]}, "endpoints[0].addresses", "Required value"),
    ({"endpoints": [{"conditions": {}}]}, "endpoints[0].addresses", "Required value"),
    ({"endpoints": [{"addresses": ["300.1.1.1"]}]}, "endpoints[0].addresses[0]",
     "must be a valid IP address"),
    ({"endpoints": [{"addresses": ["fd00::1"]}]}, "endpoints[0].addresses[0]",
     "must be a valid IPv4 address"),
    # Kubernetes' ValidateDNS1123Label: the DNS server names the address <hostname>.<svc>.
    ({"endpoints": [{"addresses": ["10.0.0.1"], "hostname": "a.b"}]}, "endpoints[0].hostname",
     "RFC 1123 label"),
    ({"ports": [{"port": 0}]}, "ports[0].port", "between 1 and 65535"),
    ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "ports[0].protocol", "Unsupported value"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "ports[1].name",
     "Duplicate value"),
    ({"ports": [{"name": "Bad_Name", "port": 80}]}, "ports[0].name", "DNS label"),
])
def test_invalid_slices_name_the_field(overrides: dict[str, Any], path: str, text: str) -> None:
    causes = fields(slice_(**overrides))
    assert path in causes and text in causes[path], causes


def test_fqdn_and_ipv6_slices() -> None:
    assert fields(slice_(addressType="FQDN", endpoints=[{"addresses": ["db.example.com"]}])) == {}
    assert fields(slice_(addressType="IPv6", endpoints=[{"addresses": ["fd00::1"]}])) == {}


def test_address_type_is_immutable() -> None:
    old = slice_()
    STRATEGY.default(old)
    new = copy.deepcopy(old)
    new["addressType"] = "IPv6"
    new["endpoints"] = [{"addresses": ["fd00::1"]}]
    STRATEGY.prepare_update(new, old)
    causes = {c.field: c.message for c in STRATEGY.validate_update(new, old)}
    assert "field is immutable" in causes["addressType"]


def test_table_matches_kubectl_columns() -> None:
    many = slice_(endpoints=[{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)],
                  ports=[{"port": 80}, {"port": 443}])
    empty = slice_(endpoints=[], ports=[])
    result = STRATEGY.table([many, empty])
    assert [c["name"] for c in result["columnDefinitions"]] == [
        "Name", "AddressType", "Ports", "Endpoints", "Age"]
    first, second = (r["cells"] for r in result["rows"])
    assert first[:4] == ["web-abc", "IPv4", "80,443", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."]
    assert second[2:4] == ["<unset>", "<unset>"]


def test_field_selectors_are_name_and_namespace() -> None:
    assert STRATEGY.supported_fields == {"metadata.name", "metadata.namespace"}
    assert STRATEGY.field_values(slice_())["metadata.name"] == "web-abc"


def test_discovery_lists_the_group() -> None:
    groups = {g["name"]: g for g in discovery.api_group_list()["groups"]}
    assert groups["discovery.k8s.io"]["preferredVersion"]["groupVersion"] == "discovery.k8s.io/v1"
    listed = discovery.api_resource_list("discovery.k8s.io", "v1")
    assert listed is not None
    assert [r["name"] for r in listed["resources"]] == ["endpointslices"]
