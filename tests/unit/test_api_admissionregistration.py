"""Webhook configurations: Kubernetes' defaults and validation messages, and which
requests a compiled webhook's rules and selectors reach (webhook/predicates' tables)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.registry import strategy_for
from minikube_py.api.webhookrules import compile_configuration

HOOK = {"name": "check.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "clientConfig": {"service": {"namespace": "hooks", "name": "check"}},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"]}]}


def config(mutating: bool = False, **changes: Any) -> dict[str, Any]:
    hook = {**copy.deepcopy(HOOK), **changes}
    kind = "MutatingWebhookConfiguration" if mutating else "ValidatingWebhookConfiguration"
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": "c"}, "webhooks": [hook]}


def causes(obj: dict[str, Any]) -> dict[str, str]:
    resource = resources.MUTATINGWEBHOOKCONFIGURATIONS if obj["kind"].startswith("Mutating") \
        else resources.VALIDATINGWEBHOOKCONFIGURATIONS
    strategy = strategy_for(resource)
    strategy.default(obj)
    return {c.field: c.message for c in strategy.validate_create(obj)}


def test_defaults_are_kubernetes_v1_defaults() -> None:
    obj = config(mutating=True)
    assert causes(obj) == {}
    hook = obj["webhooks"][0]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"],
            hook["reinvocationPolicy"]) == ("Fail", "Equivalent", 10, "Never")
    assert hook["namespaceSelector"] == hook["objectSelector"] == {}
    assert hook["rules"][0]["scope"] == "*"
    assert hook["clientConfig"]["service"]["port"] == 443
    assert "reinvocationPolicy" not in config()["webhooks"][0]


@pytest.mark.parametrize(("changes", "path", "message"), [
    pytest.param({"name": "check"}, "webhooks[0].name", 'Invalid value: "check": should be a '
                 "domain with at least three segments separated by dots", id="short-name"),
    pytest.param({"sideEffects": None}, "webhooks[0].sideEffects",
                 "Required value: must specify one of None, NoneOnDryRun", id="side-effects"),
    pytest.param({"sideEffects": "Some"}, "webhooks[0].sideEffects",
                 'Unsupported value: "Some": supported values: "None", "NoneOnDryRun"',
                 id="side-effects-v1beta1-only"),
    pytest.param({"admissionReviewVersions": ["v2"]}, "webhooks[0].admissionReviewVersions",
                 'Invalid value: ["v2"]: must include at least one of v1, v1beta1',
                 id="review-versions"),
    pytest.param({"timeoutSeconds": 0}, "webhooks[0].timeoutSeconds",
                 "Invalid value: 0: the timeout value must be between 1 and 30 seconds",
                 id="timeout"),
    pytest.param({"failurePolicy": "Retry"}, "webhooks[0].failurePolicy",
                 'Unsupported value: "Retry": supported values: "Fail", "Ignore"',
                 id="failure-policy"),
    pytest.param({"clientConfig": {}}, "webhooks[0].clientConfig",
                 "Required value: exactly one of url or service is required", id="no-client"),
    pytest.param({"clientConfig": {"url": "https://h/x?a=b"}}, "webhooks[0].clientConfig.url",
                 'Invalid value: "https://h/x?a=b": query parameters are not permitted in '
                 "the URL", id="url-query"),
    pytest.param({"clientConfig": {"service": {"namespace": "n", "name": "s", "path": "x",
                                               "port": 70000}}},
                 "webhooks[0].clientConfig.service.port",
                 "Invalid value: 70000: port is not valid: must be between 1 and 65535, "
                 "inclusive", id="service-port"),
    pytest.param({"rules": [{"operations": ["PATCH"], "apiGroups": ["*"],
                             "apiVersions": ["*"], "resources": ["*"]}]},
                 "webhooks[0].rules[0].operations[0]",
                 'Unsupported value: "PATCH": supported values: "*", "CONNECT", "CREATE", '
                 '"DELETE", "UPDATE"', id="operation"),
    pytest.param({"rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                             "resources": ["*/*", "pods"]}]},
                 "webhooks[0].rules[0].resources",
                 "Invalid value: [\"*/*\",\"pods\"]: if '*/*' is present, must not specify "
                 "other resources", id="star-star"),
    pytest.param({"objectSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
                 "webhooks[0].objectSelector", "", id="selector"),
])
def test_validation_names_the_field(changes: dict[str, Any], path: str, message: str) -> None:
    found = causes(config(**changes))
    assert path in found, found
    if message:
        assert found[path] == message


def test_duplicate_webhook_names_are_refused() -> None:
    obj = config()
    obj["webhooks"].append(copy.deepcopy(obj["webhooks"][0]))
    assert causes(obj)["webhooks[1].name"] == 'Duplicate value: "check.example.com"'


def test_generation_follows_the_webhooks() -> None:
    strategy = strategy_for(resources.VALIDATINGWEBHOOKCONFIGURATIONS)
    old = config()
    strategy.prepare_create(old)
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    strategy.prepare_update(new, old)
    assert new["metadata"]["generation"] == 1
    new["webhooks"][0]["timeoutSeconds"] = 5
    strategy.prepare_update(new, old)
    assert new["metadata"]["generation"] == 2


POD = resources.PODS
NS = resources.NAMESPACES
NODE = resources.NODES
DEPLOY = resources.DEPLOYMENTS


@pytest.mark.parametrize(("rule", "operation", "resource", "sub", "namespace", "matches"), [
    pytest.param({}, "CREATE", POD, "", "ns", True, id="exact"),
    pytest.param({}, "UPDATE", POD, "", "ns", False, id="other-operation"),
    pytest.param({}, "CREATE", POD, "status", "ns", False, id="no-subresource"),
    pytest.param({"resources": ["pods/status"]}, "CREATE", POD, "status", "ns", True,
                 id="subresource"),
    pytest.param({"resources": ["*"]}, "CREATE", POD, "status", "ns", False,
                 id="star-excludes-subresources"),
    pytest.param({"resources": ["*/*"]}, "CREATE", POD, "exec", "ns", True, id="star-star"),
    pytest.param({"resources": ["*/status"]}, "CREATE", DEPLOY, "status", "ns", False,
                 id="other-group"),
    pytest.param({"resources": ["*/status"], "apiGroups": ["*"]}, "CREATE", DEPLOY,
                 "status", "ns", True, id="any-group"),
    pytest.param({"operations": ["*"]}, "DELETE", POD, "", "ns", True, id="any-operation"),
    pytest.param({"scope": "Cluster"}, "CREATE", POD, "", "ns", False, id="cluster-scope"),
    pytest.param({"scope": "Namespaced"}, "CREATE", POD, "", "ns", True, id="namespaced"),
    pytest.param({"scope": "Namespaced", "resources": ["namespaces"]}, "CREATE", NS, "",
                 "ns", False, id="namespace-object-is-cluster-scoped"),
    pytest.param({"scope": "Cluster", "resources": ["namespaces"]}, "CREATE", NS, "", "ns",
                 True, id="namespace-in-cluster-scope"),
    pytest.param({"scope": "Cluster", "resources": ["nodes"]}, "CREATE", NODE, "", None,
                 True, id="cluster-object"),
])
def test_rules_match_as_kubernetes(rule: dict[str, Any], operation: str,
                                   resource: resources.Resource, sub: str,
                                   namespace: str | None, matches: bool) -> None:
    base = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["pods"], "scope": "*"}
    obj = config(rules=[{**base, **rule}])
    causes(obj)  # defaulted
    hook, = compile_configuration(obj, mutating=False)
    assert hook.matching_rule(operation, resource, sub, namespace) is matches


def test_compiled_webhook_keeps_client_selectors_and_policies() -> None:
    obj = config(mutating=True, reinvocationPolicy="IfNeeded", failurePolicy="Ignore",
                 objectSelector={"matchLabels": {"app": "web"}},
                 clientConfig={"url": "https://h:8443/m",
                               "caBundle": base64.b64encode(b"PEM").decode()})
    causes(obj)
    hook, = compile_configuration(obj, mutating=True)
    assert (hook.url, hook.service, hook.ca_bundle) == ("https://h:8443/m", None, b"PEM")
    assert hook.reinvoke and hook.failure_policy == "Ignore" and hook.timeout == 10
    assert hook.selects_object([{"app": "db"}, {"app": "web"}])  # old or new object
    assert not hook.selects_object([{"app": "db"}])
