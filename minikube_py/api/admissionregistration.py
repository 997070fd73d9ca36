"""ValidatingWebhookConfiguration and MutatingWebhookConfiguration
(admissionregistration.k8s.io/v1, cluster-scoped): defaults, validation and Tables as
Kubernetes' pkg/apis/admissionregistration (v1/defaults.go, validation/validation.go,
printers.go), so `kubectl apply` of a cert-manager or Helm webhook reads back the same
and a mistake is refused naming Kubernetes' field path.

Generation counts changes of `webhooks` (the configuration's desired state).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_list, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
SCOPES = ("*", "Cluster", "Namespaced")
FAILURE_POLICIES = ("Fail", "Ignore")
MATCH_POLICIES = ("Equivalent", "Exact")
SIDE_EFFECTS = ("None", "NoneOnDryRun")
REINVOCATION_POLICIES = ("IfNeeded", "Never")
REVIEW_VERSIONS = ("v1", "v1beta1")
DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 30


def set_webhook_defaults(hook: dict[str, Any], *, mutating: bool) -> None:
    """SetDefaults_ValidatingWebhook / SetDefaults_MutatingWebhook."""
    hook.setdefault("failurePolicy", "Fail")
    hook.setdefault("matchPolicy", "Equivalent")
    hook.setdefault("namespaceSelector", {})
    hook.setdefault("objectSelector", {})
    hook.setdefault("timeoutSeconds", DEFAULT_TIMEOUT)
    if mutating:
        hook.setdefault("reinvocationPolicy", "Never")
    for rule in dicts(hook.get("rules")):
        rule.setdefault("scope", "*")
    client = hook.get("clientConfig")
    if isinstance(client, dict) and isinstance(client.get("service"), dict):
        client["service"].setdefault("port", 443)


def _strings(value: Any, path: str, causes: list[Cause]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        causes.append(field.invalid(path, value, "must be a list of strings"))
        return []
    return value


def _star_alone(values: list[str], path: str, what: str) -> list[Cause]:
    if "*" in values and len(values) > 1:
        return [field.invalid(path, values, f"if '*' is present, must not specify other "
                                            f"{what}")]
    return []


def _resource_causes(resources: list[str], path: str) -> list[Cause]:
    """validateResources: 'pods', 'pods/status', '*', '*/status', 'pods/*', '*/*'."""
    causes: list[Cause] = []
    if not resources:
        return [field.required(path)]
    with_sub: dict[str, set[str]] = {}
    for i, value in enumerate(resources):
        if not value:
            causes.append(field.required(f"{path}[{i}]"))
            continue
        name, _, sub = value.partition("/")
        with_sub.setdefault(name, set()).add(sub)
    if "*/*" in resources and len(resources) > 1:
        causes.append(field.invalid(path, resources, "if '*/*' is present, must not specify "
                                                     "other resources"))
    if "*" in with_sub and "" in with_sub["*"] and any(
            n != "*" and "" in subs for n, subs in with_sub.items()):
        causes.append(field.invalid(path, resources, "if '*' is present, must not specify "
                                                     "other resources without subresources"))
    for name, subs in with_sub.items():
        if "*" in subs and len(subs - {"", "*"}) > 0:
            causes.append(field.invalid(path, resources, f"if '{name}/*' is present, must not "
                                                         f"specify {name}/subresources"))
    return causes


def _rule_causes(rule: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    operations = _strings(rule.get("operations"), f"{path}.operations", causes)
    if rule.get("operations") is None or (isinstance(rule.get("operations"), list)
                                          and not rule["operations"]):
        causes.append(field.required(f"{path}.operations"))
    causes += _star_alone(operations, f"{path}.operations", "operations")
    for i, op in enumerate(operations):
        if op not in OPERATIONS:
            causes.append(field.not_supported(f"{path}.operations[{i}]", op, OPERATIONS))
    groups = _strings(rule.get("apiGroups"), f"{path}.apiGroups", causes)
    if rule.get("apiGroups") is None or rule.get("apiGroups") == []:
        causes.append(field.required(f"{path}.apiGroups"))
    causes += _star_alone(groups, f"{path}.apiGroups", "API groups")
    versions = _strings(rule.get("apiVersions"), f"{path}.apiVersions", causes)
    if not versions:
        causes.append(field.required(f"{path}.apiVersions"))
    causes += _star_alone(versions, f"{path}.apiVersions", "API versions")
    for i, version in enumerate(versions):
        if not version:
            causes.append(field.required(f"{path}.apiVersions[{i}]"))
    causes += _resource_causes(_strings(rule.get("resources"), f"{path}.resources", causes),
                               f"{path}.resources")
    scope = rule.get("scope")
    if scope is not None and scope not in SCOPES:
        causes.append(field.not_supported(f"{path}.scope", scope, SCOPES))
    return causes


def _url_causes(url: Any, path: str) -> list[Cause]:
    """ValidateWebhookURL: https, a host, no fragment, no query, no user info."""
    if not isinstance(url, str) or not url:
        return [field.required(path, "url must be non-empty")] if not url else \
            [field.invalid(path, url, "must be a string")]
    parsed = urllib.parse.urlsplit(url)
    causes = []
    if parsed.scheme != "https":
        causes.append(field.invalid(path, url, "'https' is the only allowed URL scheme"))
    if not parsed.hostname:
        causes.append(field.invalid(path, url, "host must be specified"))
    if parsed.username or parsed.password:
        causes.append(field.invalid(path, url, "user information is not permitted in the URL"))
    if parsed.fragment or url.endswith("#"):
        causes.append(field.invalid(path, url, "fragments are not permitted in the URL"))
    if parsed.query or "?" in url:
        causes.append(field.invalid(path, url, "query parameters are not permitted in the URL"))
    return causes


def _service_causes(service: Mapping[str, Any], path: str) -> list[Cause]:
    causes = []
    if not service.get("name"):
        causes.append(field.required(f"{path}.name", "service name is required"))
    elif not isinstance(service["name"], str) or meta.dns1035_label(service["name"]):
        causes.append(field.invalid(f"{path}.name", service["name"],
                                    "must be a DNS-1035 label"))
    if not service.get("namespace"):
        causes.append(field.required(f"{path}.namespace", "service namespace is required"))
    elif not isinstance(service["namespace"], str) or meta.dns1123_label(service["namespace"]):
        causes.append(field.invalid(f"{path}.namespace", service["namespace"],
                                    "must be a DNS-1123 label"))
    svc_path = service.get("path")
    if svc_path is not None and svc_path != "":
        if not isinstance(svc_path, str) or not svc_path.startswith("/"):
            causes.append(field.invalid(f"{path}.path", svc_path, "must start with a '/'"))
        elif "//" in svc_path or any(s in (".", "..") for s in svc_path.split("/")):
            causes.append(field.invalid(f"{path}.path", svc_path,
                                        "segment[1]: must not be '.', '..' or empty"))
    port = service.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)
                             or not 1 <= port <= 65535):
        causes.append(field.invalid(f"{path}.port", port, "port is not valid: must be "
                                                          "between 1 and 65535, inclusive"))
    return causes


def _client_causes(client: Any, path: str) -> list[Cause]:
    if not isinstance(client, Mapping):
        return [field.required(path, "exactly one of url or service is required")]
    url, service = client.get("url"), client.get("service")
    if (url is None) == (service is None):
        return [field.required(path, "exactly one of url or service is required")]
    causes = _url_causes(url, f"{path}.url") if url is not None else (
        _service_causes(service, f"{path}.service") if isinstance(service, Mapping)
        else [field.invalid(f"{path}.service", service, "must be an object")])
    ca = client.get("caBundle")
    if ca is not None and not isinstance(ca, str):
        causes.append(field.invalid(f"{path}.caBundle", ca, "must be base64-encoded PEM"))
    return causes


def _selector_causes(selector: Any, path: str) -> list[Cause]:
    try:
        LabelSelector.from_dict(selector if selector is not None else {})
    except ValueError as e:
        return [field.invalid(path, selector, str(e))]
    return meta.validate_labels((selector or {}).get("matchLabels"), f"{path}.matchLabels")


def _choice(hook: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]
            ) -> list[Cause]:
    value = hook.get(key)
    return [] if value is None or value in allowed else \
        [field.not_supported(f"{path}.{key}", value, allowed)]


def _webhook_causes(hook: Mapping[str, Any], path: str, *, mutating: bool) -> list[Cause]:
    causes: list[Cause] = []
    name = hook.get("name")
    if not name:
        causes.append(field.required(f"{path}.name"))
    elif not isinstance(name, str) or meta.dns1123_subdomain(name) or name.count(".") < 2:
        causes.append(field.invalid(f"{path}.name", name, "should be a domain with at least "
                                                          "three segments separated by dots"))
    versions = _strings(hook.get("admissionReviewVersions"),
                        f"{path}.admissionReviewVersions", causes)
    if not versions:
        causes.append(field.required(f"{path}.admissionReviewVersions",
                                     "must specify one of v1, v1beta1"))
    elif not set(versions) & set(REVIEW_VERSIONS):
        causes.append(field.invalid(f"{path}.admissionReviewVersions", versions,
                                    "must include at least one of v1, v1beta1"))
    for rule_path, rule in field.objects(hook.get("rules"), f"{path}.rules", causes):
        causes += _rule_causes(rule, rule_path)
    causes += _choice(hook, "failurePolicy", path, FAILURE_POLICIES)
    causes += _choice(hook, "matchPolicy", path, MATCH_POLICIES)
    if hook.get("sideEffects") is None:
        causes.append(field.required(f"{path}.sideEffects",
                                     "must specify one of None, NoneOnDryRun"))
    causes += _choice(hook, "sideEffects", path, SIDE_EFFECTS)
    if mutating:
        causes += _choice(hook, "reinvocationPolicy", path, REINVOCATION_POLICIES)
    timeout = hook.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)
                                or not 1 <= timeout <= MAX_TIMEOUT):
        causes.append(field.invalid(f"{path}.timeoutSeconds", timeout, "the timeout value "
                                    "must be between 1 and 30 seconds"))
    for key in ("namespaceSelector", "objectSelector"):
        causes += _selector_causes(hook.get(key), f"{path}.{key}")
    causes += _client_causes(hook.get("clientConfig"), f"{path}.clientConfig")
    if hook.get("matchConditions"):
        causes.append(field.forbidden(f"{path}.matchConditions",
                                      "matchConditions are not supported by this server"))
    return causes


class WebhookConfigurationStrategy(Strategy):
    """Both configuration kinds; `mutating` adds reinvocationPolicy."""

    mutating: ClassVar[bool] = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Webhooks", type="integer", description="Webhooks indicates the number "
                                                             "of webhooks in the "
                                                             "configuration."),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        for hook in dicts(obj.get("webhooks")):
            set_webhook_defaults(hook, mutating=self.mutating)

    def spec_of(self, obj: Mapping[str, Any]) -> Any:
        return obj.get("webhooks")

    def validate(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        seen: set[str] = set()
        for path, hook in field.objects(obj.get("webhooks"), "webhooks", causes):
            causes += _webhook_causes(hook, path, mutating=self.mutating)
            name = hook.get("name")
            if isinstance(name, str) and name:
                if name in seen:
                    causes.append(field.duplicate(f"{path}.name", name))
                seen.add(name)
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), len(as_list(obj.get("webhooks"))), table.age(obj, now)]


class ValidatingWebhookConfigurationStrategy(WebhookConfigurationStrategy):
    mutating = False


class MutatingWebhookConfigurationStrategy(WebhookConfigurationStrategy):
    mutating = True
