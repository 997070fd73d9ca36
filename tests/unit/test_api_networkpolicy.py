"""NetworkPolicy (networking.k8s.io/v1): Kubernetes' defaults, validation with field paths,
and `kubectl get netpol`'s columns."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.registry import strategy_for
from tests.fixtures.api_strategies import DELETE, created_causes, set_path, table_meta, table_row

NP = resources.NETWORKPOLICIES
VALID: dict[str, Any] = {
    "metadata": {"name": "allow-web", "namespace": "default"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}},
                               "podSelector": {"matchExpressions": [
                                   {"key": "role", "operator": "In", "values": ["fe"]}]}},
                              {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                     "ports": [{"port": "http"}, {"port": 8000, "endPort": 8100,
                                                  "protocol": "UDP"}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 53}]}],
    },
}


def test_valid_policy_has_no_causes_and_gets_kubernetes_defaults() -> None:
    assert created_causes(NP, VALID) == []
    obj = copy.deepcopy(VALID)
    strategy_for(NP).default(obj)
    assert obj["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert obj["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    ingress_only = {"metadata": VALID["metadata"], "spec": {"podSelector": {}}}
    strategy_for(NP).default(ingress_only)
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]


ING = "spec.ingress[0]"
CASES: list[tuple[Callable[[Any], None], str, str]] = [
    (set_path("spec.podSelector", DELETE), "spec.podSelector", "FieldValueRequired"),
    (set_path("spec.podSelector", {"matchLabels": {"app": "bad value!"}}),
     "spec.podSelector.matchLabels", "FieldValueInvalid"),
    (set_path("spec.policyTypes", ["Sideways"]), "spec.policyTypes[0]",
     "FieldValueNotSupported"),
    (set_path("spec.ingress.0.ports.0.protocol", "ICMP"), f"{ING}.ports[0].protocol",
     "FieldValueNotSupported"),
    (set_path("spec.ingress.0.ports.0.port", "Not_A_Name"), f"{ING}.ports[0].port",
     "FieldValueInvalid"),
    (set_path("spec.ingress.0.ports.1.endPort", 7000), f"{ING}.ports[1].endPort",
     "FieldValueInvalid"),
    (set_path("spec.ingress.0.ports.0.endPort", 9000), f"{ING}.ports[0].endPort",
     "FieldValueInvalid"),
    (set_path("spec.ingress.0.from.0", {}), f"{ING}.from[0]", "FieldValueRequired"),
    (set_path("spec.ingress.0.from.1.podSelector", {}), f"{ING}.from[1]",
     "FieldValueForbidden"),
    (set_path("spec.ingress.0.from.1.ipBlock.cidr", "10.0.0.0"), f"{ING}.from[1].ipBlock.cidr",
     "FieldValueInvalid"),
    (set_path("spec.ingress.0.from.1.ipBlock.except", ["11.0.0.0/16"]),
     f"{ING}.from[1].ipBlock.except[0]", "FieldValueInvalid"),
    (set_path("spec.ingress.0.from.1.ipBlock.except", ["10.0.0.0/8"]),
     f"{ING}.from[1].ipBlock.except[0]", "FieldValueInvalid"),
    (set_path("spec.egress.0.to.0.ipBlock.cidr", DELETE), "spec.egress[0].to[0].ipBlock.cidr",
     "FieldValueRequired"),
]


@pytest.mark.parametrize(("mutate", "path", "reason"), [
    pytest.param(m, p, r, id=f"{p}-{r}") for m, p, r in CASES])
def test_invalid_policies_name_the_field(mutate: Callable[[Any], None], path: str,
                                         reason: str) -> None:
    obj = copy.deepcopy(VALID)
    mutate(obj)
    assert (path, reason) in [(c.field, c.reason) for c in created_causes(NP, obj)]


def test_get_netpol_columns() -> None:
    row = table_row(NP, {"metadata": table_meta("allow-web"),
                         "spec": {"podSelector": {"matchLabels": {"app": "web"}}}})
    assert list(row)[:3] == ["Name", "Pod-Selector", "Age"]
    assert row["Pod-Selector"] == "app=web"
    assert table_row(NP, {"metadata": table_meta("all"), "spec": {"podSelector": {}}})[
        "Pod-Selector"] == "<none>"
