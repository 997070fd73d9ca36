"""A container's environment as Kubernetes computes it.

envFrom first, then env in order (later wins); `$(VAR)` in values, command and args
refers to variables defined before it, `$$(` escapes. A missing non-optional key or
object is a CreateContainerConfigError, as in Kubernetes.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.source import ObjectSource
from minikube_py.api.quantity import cpu_millis, to_bytes
from minikube_py.api.resources import CONFIGMAPS, SECRETS, SERVICES, Resource

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: unknown references are left as written."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _REF.sub(sub, text)


def sub_path(mount: dict[str, Any], env: dict[str, str]) -> str:
    """A volumeMount's subPath, or its subPathExpr expanded with the container's
    variables; a variable missing or empty is an error, as kubelet's
    ExpandContainerVolumeMounts (the api-server checked the expression, not the result)."""
    expr = mount.get("subPathExpr")
    if not expr:
        return str(mount.get("subPath") or "")
    missing = sorted({m.group(1) for m in _REF.finditer(expr)
                      if m.group(1) and not env.get(m.group(1))})
    if missing:
        raise ContainerConfigError(f"missing value for {', '.join(missing)}")
    path = expand(expr, env)
    if os.path.isabs(path):
        raise ContainerConfigError(f"error SubPath `{path}` must not be an absolute path")
    if ".." in path.split("/"):
        raise ContainerConfigError(f"unable to provision SubPath `{path}`: must not contain "
                                   "'..'")
    return path


def field_value(pod: dict[str, Any], path: str, *, pod_ip: str, host_ip: str) -> str:
    """The downward API's fieldRef values the kubelet can answer."""
    meta, spec = pod["metadata"], pod["spec"]
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip, "status.hostIP": host_ip,
    }
    if path in simple:
        return str(simple[path])
    m = re.fullmatch(r"metadata\.(labels|annotations)(?:\['(.+)'\])?", path)
    if m:
        values = meta.get(m.group(1)) or {}
        if m.group(2) is not None:
            return str(values.get(m.group(2), ""))
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    raise ContainerConfigError(f"unsupported fieldRef fieldPath {path!r}")


def decoded(resource: Resource, obj: dict[str, Any]) -> dict[str, bytes]:
    """Key -> bytes of a ConfigMap (data + binaryData) or Secret (base64 data)."""
    if resource is SECRETS:
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


async def _keys(source: ObjectSource, resource: Resource, namespace: str, name: str,
                optional: bool) -> dict[str, bytes] | None:
    obj = await source.get(resource, namespace, name)
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{resource.kind.lower()} "{name}" not found')
    return decoded(resource, obj)


def service_env(services: list[dict[str, Any]]) -> dict[str, str]:
    """Kubernetes' service variables ({NAME}_SERVICE_HOST/_PORT and the Docker-link style
    {NAME}_PORT_*), which in-cluster clients read to find the api-server."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            proto, port = str(p.get("protocol", "TCP")), str(p["port"])
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = port
            link = f"{name}_PORT_{port}_{proto}"
            env.update({link: f"{proto.lower()}://{ip}:{port}", f"{link}_PROTO": proto.lower(),
                        f"{link}_PORT": port, f"{link}_ADDR": ip})
        first = ports[0]
        env[f"{name}_PORT"] = f"{str(first.get('protocol', 'TCP')).lower()}://{ip}:{first['port']}"
    return env


async def _service_env(pod: dict[str, Any], source: ObjectSource) -> dict[str, str]:
    """The pod namespace's services (if enableServiceLinks) and always `kubernetes`."""
    ns = pod["metadata"]["namespace"]
    links = pod["spec"].get("enableServiceLinks", True)
    services = await source.list(SERVICES, ns) if links else []
    if ns != "default" or not links:
        services = [s for s in services if s["metadata"]["name"] != "kubernetes"]
        master = await source.get(SERVICES, "default", "kubernetes")
        services += [master] if master else []
    return service_env(services)


async def container_env(pod: dict[str, Any], container: dict[str, Any], source: ObjectSource,
                        *, pod_ip: str, host_ip: str) -> dict[str, str]:
    """Service variables, then envFrom, then env: later definitions win."""
    ns = pod["metadata"]["namespace"]
    env: dict[str, str] = await _service_env(pod, source)
    for item in container.get("envFrom") or []:
        prefix = item.get("prefix", "")
        for kind, resource in (("configMapRef", CONFIGMAPS), ("secretRef", SECRETS)):
            ref = item.get(kind)
            if ref:
                data = await _keys(source, resource, ns, ref["name"], bool(ref.get("optional")))
                env.update({prefix + k: v.decode(errors="replace") for k, v in (data or {}).items()})
    for var in container.get("env") or []:
        name, src = var["name"], var.get("valueFrom")
        if not src:
            env[name] = expand(str(var.get("value", "")), env)
        elif "fieldRef" in src:
            env[name] = field_value(pod, src["fieldRef"]["fieldPath"], pod_ip=pod_ip,
                                    host_ip=host_ip)
        elif "resourceFieldRef" in src:
            env[name] = _resource_field(container, src["resourceFieldRef"])
        else:
            kind, resource = (("configMapKeyRef", CONFIGMAPS) if "configMapKeyRef" in src
                              else ("secretKeyRef", SECRETS))
            ref = src[kind]
            optional = bool(ref.get("optional"))
            data = await _keys(source, resource, ns, ref["name"], optional)
            if data is None:
                continue
            if ref["key"] not in data:
                if optional:
                    continue
                raise ContainerConfigError(
                    f'couldn\'t find key {ref["key"]} in {resource.kind} {ns}/{ref["name"]}')
            env[name] = data[ref["key"]].decode(errors="replace")
    return env


def _resource_field(container: dict[str, Any], ref: dict[str, Any]) -> str:
    kind, _, res = ref["resource"].partition(".")
    value = (container.get("resources") or {}).get(kind, {}).get(res)
    if value is None:
        return "0"
    divisor = ref.get("divisor", "1")
    if res == "cpu":
        return str(-(-cpu_millis(value) // max(cpu_millis(divisor), 1)))
    return str(-(-to_bytes(value) // max(to_bytes(divisor), 1)))
