"""APIService (apiregistration.k8s.io/v1): kube-aggregator's validation, one case per
cause (field and message as ValidateAPIService reports them), the port default and
`kubectl get apiservices` cells."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api.resources import APISERVICES
from tests.fixtures.api_strategies import DELETE, created_causes, set_path, table_meta, table_row

Obj = dict[str, Any]
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
VALID: Obj = {"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {
    "group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
    "versionPriority": 100, "caBundle": CA,
    "service": {"namespace": "kube-system", "name": "metrics-server"}}}
LOCAL: Obj = {"metadata": {"name": "v1.apps"}, "spec": {
    "group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}}


def test_valid_objects_have_no_causes() -> None:
    assert created_causes(APISERVICES, VALID) == []
    assert created_causes(APISERVICES, LOCAL) == []


@pytest.mark.parametrize(("mutate", "field", "message"), [
    pytest.param(set_path("metadata.name", "v1.metrics.k8s.io"), "metadata.name",
                 'must be `spec.version+"."+spec.group`: "v1beta1.metrics.k8s.io"', id="name"),
    pytest.param(set_path("metadata.name", "a/b"), "metadata.name", "may not contain '/'",
                 id="name-segment"),
    pytest.param(set_path("spec.group", DELETE), "spec.group",
                 "only v1 may have an empty group", id="group-required"),
    pytest.param(set_path("spec.version", "V1"), "spec.version", "Invalid value",
                 id="version-label"),
    pytest.param(set_path("spec.groupPriorityMinimum", 0), "spec.groupPriorityMinimum",
                 "must be positive and less than 20000", id="group-priority"),
    pytest.param(set_path("spec.versionPriority", 1001), "spec.versionPriority",
                 "must be positive and less than 1000", id="version-priority"),
    pytest.param(set_path("spec.service.name", DELETE), "spec.service.name", "Required value",
                 id="service-name"),
    pytest.param(set_path("spec.service.namespace", DELETE), "spec.service.namespace",
                 "Required value", id="service-namespace"),
    pytest.param(set_path("spec.service.port", 70000), "spec.service.port",
                 "port is not valid", id="service-port"),
    pytest.param(set_path("spec.insecureSkipTLSVerify", True), "spec.insecureSkipTLSVerify",
                 "may not be true if caBundle is present", id="skip-and-bundle"),
    pytest.param(set_path("spec.caBundle", "%%%"), "spec.caBundle", "base64",
                 id="bundle-base64"),
])
def test_invalid_service_backed(mutate: Callable[[Obj], None], field: str,
                                message: str) -> None:
    obj = copy.deepcopy(VALID)
    mutate(obj)
    causes = [c for c in created_causes(APISERVICES, obj) if c.field == field]
    assert causes and message in causes[0].message, created_causes(APISERVICES, obj)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("caBundle", CA, "local APIServices may not have a caBundle"),
    ("insecureSkipTLSVerify", True, "local APIServices may not have insecureSkipTLSVerify"),
])
def test_local_may_not_have_tls_settings(key: str, value: Any, message: str) -> None:
    obj = copy.deepcopy(LOCAL)
    obj["spec"][key] = value
    assert [message in c.message for c in created_causes(APISERVICES, obj)] == [True]


def test_service_port_defaults_to_443() -> None:
    from minikube_py.api.registry import strategy_for

    obj = copy.deepcopy(VALID)
    strategy_for(APISERVICES).default(obj)
    assert obj["spec"]["service"]["port"] == 443


@pytest.mark.parametrize(("conditions", "service", "available"), [
    pytest.param([], VALID["spec"]["service"], "Unknown", id="unchecked"),
    pytest.param([{"type": "Available", "status": "True", "reason": "Passed"}],
                 VALID["spec"]["service"], "True", id="available"),
    pytest.param([{"type": "Available", "status": "False", "reason": "MissingEndpoints"}],
                 VALID["spec"]["service"], "False (MissingEndpoints)", id="missing-endpoints"),
    pytest.param([{"type": "Available", "status": "True", "reason": "Local"}], None, "True",
                 id="local"),
])
def test_row(conditions: list[Obj], service: Obj | None, available: str) -> None:
    spec = {**VALID["spec"], "service": service}
    obj = {"metadata": table_meta("v1beta1.metrics.k8s.io", 90), "spec": spec,
           "status": {"conditions": conditions}}
    assert table_row(APISERVICES, obj) == {
        "Name": "v1beta1.metrics.k8s.io",
        "Service": "kube-system/metrics-server" if service else "Local",
        "Available": available, "Age": "90s"}
