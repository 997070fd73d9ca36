"""What Deployments and ReplicaSets share: replicas, a selector that must match
the pod template's labels and never change, and a defaulted pod template."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from minikube_py.api import field, meta, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import dig
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

CONTAINERS = table.Column("Containers", priority=1,
                          description="Names of each container in the template.")
IMAGES = table.Column("Images", priority=1,
                      description="Images referenced by each container in the template.")
SELECTOR = table.Column("Selector", priority=1,
                        description="Label selector for pods.")


def selector_text(selector: Any) -> str:
    try:
        return LabelSelector.from_dict(selector).to_text() or "<none>"
    except ValueError:
        return "<invalid>"


class WorkloadStrategy(Strategy):
    """Base for kinds that own pods through `spec.selector` and `spec.template`."""

    status_keeps_labels = True
    # DaemonSets have no replicas: one pod per eligible node.
    has_replicas: ClassVar[bool] = True

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if self.has_replicas:
            spec.setdefault("replicas", 1)
        template_spec = dig(spec, "template", "spec")
        if isinstance(template_spec, dict):
            podspec.default_pod_spec(template_spec)

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        causes: list[Cause] = []
        if self.has_replicas:
            causes += field.at_least("spec.replicas", spec.get("replicas"))
        causes += field.at_least("spec.minReadySeconds", spec.get("minReadySeconds"))
        causes += selector_and_template_causes(spec, "spec")
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        selector = dig(new, "spec", "selector")
        if selector != dig(old, "spec", "selector"):
            return [field.invalid("spec.selector", selector, "field is immutable")]
        return []

    def workload_cells(self, obj: Mapping[str, Any]) -> list[Any]:
        containers, images = table.containers_and_images(
            dig(obj, "spec", "template", "spec", default={}))
        return [containers, images, selector_text(dig(obj, "spec", "selector"))]


def selector_and_template_causes(spec: Mapping[str, Any], path: str,
                                 restart_policies: tuple[str, ...] = ("Always",)) -> list[Cause]:
    """The selector is valid, non-empty and matches the template's labels; the template's
    pod spec is valid with one of `restart_policies` (empty: its caller checks the pod)."""
    causes: list[Cause] = []
    selector = spec.get("selector")
    parsed: LabelSelector | None = None
    if selector is None:
        causes.append(field.required(f"{path}.selector"))
    else:
        try:
            parsed = LabelSelector.from_dict(selector)
        except ValueError as e:
            causes.append(field.invalid(f"{path}.selector", selector, str(e)))
        else:
            if parsed.is_everything:
                causes.append(field.invalid(f"{path}.selector", selector,
                                            "empty selector is invalid for deployment"))
            causes += meta.validate_labels(selector.get("matchLabels"),
                                           f"{path}.selector.matchLabels")
    template = spec.get("template")
    if not isinstance(template, Mapping):
        causes.append(field.required(f"{path}.template"))
        return causes
    labels = dig(template, "metadata", "labels")
    causes += meta.validate_labels(labels, f"{path}.template.metadata.labels")
    if parsed is not None and not parsed.is_everything and not parsed.matches(
            labels if isinstance(labels, Mapping) else {}):
        causes.append(field.invalid(f"{path}.template.metadata.labels",
                                    json.loads(json.dumps(labels or {})),
                                    "`selector` does not match template `labels`"))
    if restart_policies:
        causes += pod_template_causes(template, f"{path}.template", restart_policies)
    return causes


def pod_template_causes(template: Mapping[str, Any], path: str,
                        restart_policies: tuple[str, ...]) -> list[Cause]:
    """A template's pod spec is valid and restarts its containers as the kind allows."""
    causes = podspec.validate_pod_spec(template.get("spec"), f"{path}.spec")
    restart = dig(template, "spec", "restartPolicy")
    if restart is not None and restart not in restart_policies:
        causes.append(field.not_supported(f"{path}.spec.restartPolicy", restart,
                                          restart_policies))
    return causes


def int_or_percent_causes(value: Any, path: str) -> list[Cause]:
    """intstr fields like maxSurge: a non-negative int or 'N%' with N <= 100."""
    if isinstance(value, bool):
        return [field.invalid(path, value, "must be an integer or percentage (e.g '5%')")]
    if isinstance(value, int):
        return [] if value >= 0 else [field.invalid(path, value,
                                                    "must be greater than or equal to 0")]
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        if int(value[:-1]) > 100:
            return [field.invalid(path, value, "must not be greater than 100%")]
        return []
    return [field.invalid(path, value, "a valid percent string must be a numeric string "
                                       "followed by an ending '%' (e.g. '1%',  or '93%', regex "
                                       "used for validation is '[0-9]+%')")]


def default_rolling_update(spec: dict[str, Any], key: str, **defaults: Any) -> None:
    """Default `spec.<key>` to RollingUpdate and, when it is, its rollingUpdate fields
    (each workload kind has its own key and defaults)."""
    strategy = spec.setdefault(key, {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                for name, value in defaults.items():
                    rolling.setdefault(name, value)


def is_zero(value: Any) -> bool:
    return value in (0, "0%")

