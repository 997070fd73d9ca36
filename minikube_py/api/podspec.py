"""PodSpec defaults and validation, shared by Pods and every pod template.

Kubernetes fills omitted fields (SetDefaults_PodSpec, SetDefaults_Container ...)
so what a client reads back is what the kubelet will run; we fill the same
ones with the same values, so `kubectl get -o yaml` looks familiar and
`kubectl apply` diffs against what Kubernetes would have stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.meta import (
    dns1123_label,
    dns1123_subdomain,
    label_key_errors,
    validate_name,
)
from minikube_py.api.podaffinity import affinity_causes
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.resolvconf import validate_dns_config
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.volumepaths import mount_causes, volume_causes

PROTOCOLS = ("TCP", "UDP", "SCTP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
ENV_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, "
                "digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',"
                "  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
                "'[-._a-zA-Z][-._a-zA-Z0-9]*')")
_STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage", "pods"})
_VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "projected", "downwardAPI")


def image_pull_policy(image: str) -> str:
    """Always for ':latest' or no tag, IfNotPresent otherwise (digests count as tags)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("hostNetwork"):
        for container in _all_containers(spec):
            for port in dicts(container.get("ports")):
                port.setdefault("hostPort", port.get("containerPort"))
    for container in _all_containers(spec):
        _default_container(container)
    for volume in dicts(spec.get("volumes")):
        for source in _VOLUME_SOURCES_WITH_MODE:
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)
        if isinstance(volume.get("hostPath"), dict):
            volume["hostPath"].setdefault("type", "")


def _all_containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return dicts(spec.get("initContainers")) + dicts(spec.get("containers"))


def _default_container(container: dict[str, Any]) -> None:
    image = container.get("image")
    if isinstance(image, str) and image:
        container.setdefault("imagePullPolicy", image_pull_policy(image))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in dicts(container.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in dicts(container.get("env")):
        field_ref = as_dict(env.get("valueFrom")).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            if isinstance(probe.get("httpGet"), dict):
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    """Every cause in a PodSpec; `path` is where it sits ("spec", "spec.template.spec")."""
    if not isinstance(spec, Mapping):
        return [field.required(path)]
    causes: list[Cause] = []
    volumes = _validate_volumes(spec.get("volumes"), f"{path}.volumes", causes)
    containers = spec.get("containers")
    if not containers:
        causes.append(field.required(f"{path}.containers"))
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        items = spec.get(key) or []
        if not isinstance(items, list):
            causes.append(field.invalid(f"{path}.{key}", items, "must be a list"))
            continue
        for i, container in enumerate(items):
            causes += _validate_container(container, f"{path}.{key}[{i}]", names, volumes)
    _check_enum(spec, "restartPolicy", RESTART_POLICIES, path, causes)
    _check_enum(spec, "dnsPolicy", DNS_POLICIES, path, causes)
    causes += validate_dns_config(spec, path)
    causes += field.at_least(f"{path}.terminationGracePeriodSeconds",
                             spec.get("terminationGracePeriodSeconds"))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not _is_int(deadline) or deadline <= 0):
        causes.append(field.invalid(f"{path}.activeDeadlineSeconds", deadline,
                                    "must be between 1 and 2147483647, inclusive"))
    for key in ("nodeName", "serviceAccountName", "hostname", "subdomain"):
        value = spec.get(key)
        if value:
            validator = dns1123_label if key in ("hostname", "subdomain") else dns1123_subdomain
            causes += validate_name(value, f"{path}.{key}", validator)
    node_selector = spec.get("nodeSelector")
    if node_selector is not None and not _is_str_map(node_selector):
        causes.append(field.invalid(f"{path}.nodeSelector", node_selector,
                                    "must be a map of string keys to string values"))
    causes += _validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    causes += affinity_causes(spec.get("affinity"), f"{path}.affinity")
    return causes


def _check_enum(obj: Mapping[str, Any], key: str, allowed: tuple[str, ...], path: str,
                causes: list[Cause]) -> None:
    value = obj.get(key)
    if value is not None and value not in allowed:
        causes.append(field.not_supported(f"{path}.{key}", value, allowed))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _validate_volumes(volumes: Any, path: str, causes: list[Cause]) -> set[str]:
    names: set[str] = set()
    for here, volume in field.objects(volumes, path, causes):
        name = volume.get("name")
        if not name:
            causes.append(field.required(f"{here}.name"))
        elif str(name) in names:
            causes.append(field.duplicate(f"{here}.name", name))
        else:
            causes += validate_name(name, f"{here}.name", dns1123_label)
            names.add(str(name))
        causes += volume_causes(volume, here)
        sources = [k for k in volume if k != "name"]
        if not sources:
            causes.append(field.required(here, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(field.forbidden(f"{here}.{sources[1]}",
                                          "may not specify more than 1 volume type"))
    return names


def _validate_container(container: Any, path: str, names: set[str],
                        volumes: set[str]) -> list[Cause]:
    if not isinstance(container, Mapping):
        return [field.invalid(path, container, "must be an object")]
    causes: list[Cause] = []
    name = container.get("name")
    if not name:
        causes.append(field.required(f"{path}.name"))
    elif str(name) in names:
        causes.append(field.duplicate(f"{path}.name", name))
    else:
        causes += validate_name(name, f"{path}.name", dns1123_label)
        names.add(str(name))
    image = container.get("image")
    if not image or not isinstance(image, str) or not image.strip():
        causes.append(field.required(f"{path}.image"))
    elif image != image.strip():
        causes.append(field.invalid(f"{path}.image", image,
                                    "must not have leading or trailing whitespace"))
    _check_enum(container, "imagePullPolicy", PULL_POLICIES, path, causes)
    for key in ("command", "args"):
        value = container.get(key)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(v, str) for v in value)):
            causes.append(field.invalid(f"{path}.{key}", value, "must be a list of strings"))
    causes += _validate_ports(container.get("ports"), f"{path}.ports")
    causes += _validate_env(container.get("env"), f"{path}.env")
    causes += _validate_resources(container.get("resources"), f"{path}.resources")
    causes += _validate_mounts(container.get("volumeMounts"), f"{path}.volumeMounts", volumes)
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        causes += _validate_probe(container.get(probe_name), f"{path}.{probe_name}")
    return causes


def _validate_ports(ports: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen_names: set[str] = set()
    for here, port in field.objects(ports, path, causes):
        number = port.get("containerPort")
        if number is None:
            causes.append(field.required(f"{here}.containerPort"))
        else:
            causes += port_number_causes(number, f"{here}.containerPort")
        host_port = port.get("hostPort")
        if host_port not in (None, 0):
            causes += port_number_causes(host_port, f"{here}.hostPort")
        _check_enum(port, "protocol", PROTOCOLS, here, causes)
        name = port.get("name")
        if name:
            if str(name) in seen_names:
                causes.append(field.duplicate(f"{here}.name", name))
            seen_names.add(str(name))
            causes += [field.invalid(f"{here}.name", name, p) for p in port_name_errors(name)]
    return causes


def port_number_causes(number: Any, path: str) -> list[Cause]:
    if not _is_int(number) or not 1 <= number <= 65535:
        return [field.invalid(path, number, "must be between 1 and 65535, inclusive")]
    return []


def port_name_errors(name: Any) -> list[str]:
    """IANA_SVC_NAME: at most 15 characters, lowercase alphanumerics and '-', one letter."""
    if not isinstance(name, str):
        return ["must be a string"]
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not all(c.islower() or c.isdigit() or c == "-" for c in name) or not name.isascii():
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if not any(c.isalpha() for c in name):
        problems.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def _validate_env(env: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for here, var in field.objects(env, path, causes):
        name = var.get("name")
        if not name:
            causes.append(field.required(f"{here}.name"))
        elif not isinstance(name, str) or not _ENV_NAME.match(name):
            causes.append(field.invalid(f"{here}.name", name, ENV_NAME_MSG))
        value = var.get("value")
        if value is not None and not isinstance(value, str):
            causes.append(field.invalid(f"{here}.value", value, "must be a string"))
        if value and var.get("valueFrom"):
            causes.append(field.invalid(f"{here}.valueFrom", "",
                                        "may not be specified when `value` is not empty"))
    return causes


def _validate_resources(resources: Any, path: str) -> list[Cause]:
    if resources is None:
        return []
    if not isinstance(resources, Mapping):
        return [field.invalid(path, resources, "must be an object")]
    causes = []
    parsed: dict[str, dict[str, Any]] = {}
    for kind in ("limits", "requests"):
        values = resources.get(kind) or {}
        if not isinstance(values, Mapping):
            causes.append(field.invalid(f"{path}.{kind}", values, "must be a map"))
            continue
        parsed[kind] = {}
        for name, value in values.items():
            standard = str(name) in _STANDARD_RESOURCES or str(name).startswith("hugepages-")
            if not standard and ("/" not in str(name) or label_key_errors(str(name))):
                causes.append(field.invalid(f"{path}.{kind}[{name}]", name,
                                            "must be a standard resource type or fully "
                                            "qualified"))
                continue
            try:
                quantity = parse_quantity(value)
            except ValueError as e:
                causes.append(field.invalid(f"{path}.{kind}[{name}]", value, str(e)))
                continue
            if quantity < 0:
                causes.append(field.invalid(f"{path}.{kind}[{name}]", value,
                                            "must be greater than or equal to 0"))
            parsed[kind][name] = quantity
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            causes.append(field.invalid(f"{path}.requests", resources["requests"][name],
                                        f"must be less than or equal to {name} limit of "
                                        f"{resources['limits'][name]}"))
    return causes


def _validate_mounts(mounts: Any, path: str, volumes: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for here, mount in field.objects(mounts, path, causes):
        name, mount_path = mount.get("name"), mount.get("mountPath")
        if not name:
            causes.append(field.required(f"{here}.name"))
        elif name not in volumes:
            causes.append(Cause(f"{here}.name", f"Not found: {field.format_value(name)}",
                                "FieldValueNotFound"))
        causes += mount_causes(mount, here)
        if not mount_path:
            causes.append(field.required(f"{here}.mountPath"))
        elif str(mount_path) in seen:
            causes.append(field.invalid(f"{here}.mountPath", mount_path, "must be unique"))
        else:
            seen.add(str(mount_path))
    return causes


def _validate_probe(probe: Any, path: str) -> list[Cause]:
    if probe is None:
        return []
    if not isinstance(probe, Mapping):
        return [field.invalid(path, probe, "must be an object")]
    causes = []
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(k) is not None]
    if not handlers:
        causes.append(field.required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        causes.append(field.forbidden(f"{path}.{handlers[1]}",
                                      "may not specify more than 1 handler type"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        causes += field.at_least(f"{path}.{key}", probe.get(key))
    for handler in ("httpGet", "tcpSocket"):
        action = probe.get(handler)
        if isinstance(action, Mapping):
            port = action.get("port")
            if port is None:
                causes.append(field.required(f"{path}.{handler}.port"))
            elif isinstance(port, str):
                causes += [field.invalid(f"{path}.{handler}.port", port, p)
                           for p in port_name_errors(port)]
            else:
                causes += port_number_causes(port, f"{path}.{handler}.port")
    return causes


def _validate_tolerations(tolerations: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for here, toleration in field.objects(tolerations, path, causes):
        operator = toleration.get("operator", "Equal")
        if operator not in ("Equal", "Exists"):
            causes.append(field.not_supported(f"{here}.operator", operator, ("Equal", "Exists")))
        if operator == "Exists" and toleration.get("value"):
            causes.append(field.invalid(f"{here}.operator", toleration,
                                        "value must be empty when `operator` is 'Exists'"))
        if not toleration.get("key") and operator != "Exists":
            causes.append(field.invalid(f"{here}.operator", operator,
                                        "operator must be Exists when `key` is empty, which "
                                        "means \"match all values and all keys\""))
        effect = toleration.get("effect")
        if effect:
            _check_enum(toleration, "effect", TOLERATION_EFFECTS, here, causes)
        seconds = toleration.get("tolerationSeconds")
        if seconds is not None and effect != "NoExecute":
            causes.append(field.invalid(f"{here}.effect", effect,
                                        "effect must be 'NoExecute' when `tolerationSeconds` "
                                        "is set"))
    return causes
