"""Services: defaults, validation, the clusterIP/nodePort carry-over on update,
and `kubectl get svc`. Allocation itself is the api-server's job; this module
only says what is well-formed.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, as_list, dicts, dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
NODE_PORT_RANGE = (30000, 32767)
_AFFINITIES = ("None", "ClientIP")
_FAMILIES = ("IPv4", "IPv6")
MAX_AFFINITY_SECONDS = 86400  # kube's MaxClientIPServiceAffinitySeconds
_TRAFFIC_POLICIES = ("Cluster", "Local")


def _port_key(port: Mapping[str, Any]) -> str:
    """A service port's identity for carrying its nodePort over: (port, protocol), as JSON
    so that whatever a client sent (a list where a string belongs) is hashable."""
    return json.dumps([port.get("port"), port.get("protocol", "TCP")], sort_keys=True)


def _has_node_ports(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_health_check(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def format_labels(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: 'a=1,b=2' sorted, '<none>' when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class ServiceStrategy(Strategy):
    selectable_fields = ("spec.clusterIP", "spec.type")
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Type", description="type determines how the Service is exposed."),
        table.Column("Cluster-IP", description="clusterIP is the IP address of the service."),
        table.Column("External-IP", description="externalIPs is a list of IP addresses for "
                                                "which nodes in the cluster will also accept "
                                                "traffic for this service."),
        table.Column("Port(s)", description="The list of ports that are exposed by this "
                                            "service."),
        table.AGE,
        table.Column("Selector", priority=1, description="Route service traffic to pods with "
                                                         "label keys and values matching this "
                                                         "selector."),
    )

    def name_problems(self, name: str) -> list[str]:
        return meta.dns1035_label(name)

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["sessionAffinity"] == "ClientIP":
            config = spec.setdefault("sessionAffinityConfig", {})
            if isinstance(config, dict):
                client_ip = config.setdefault("clientIP", {})
                if isinstance(client_ip, dict):
                    client_ip.setdefault("timeoutSeconds", 10800)  # Kubernetes' 3 hours
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        if _has_node_ports(spec):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if spec.get("clusterIP") and "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in dicts(spec.get("ports")):
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if port.get("targetPort") in (None, 0, ""):
                    port["targetPort"] = port.get("port")

    def initial_status(self, obj: Object) -> Object:
        return {"loadBalancer": {}}

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        causes: list[Cause] = []
        kind = spec.get("type", "ClusterIP")
        if kind not in TYPES:
            causes.append(field.not_supported("spec.type", kind, TYPES))
        if spec.get("sessionAffinity", "None") not in _AFFINITIES:
            causes.append(field.not_supported("spec.sessionAffinity", spec["sessionAffinity"],
                                              _AFFINITIES))
        causes += _affinity_timeout_causes(spec)
        for key in ("externalTrafficPolicy", "internalTrafficPolicy"):
            if key in spec and spec[key] not in _TRAFFIC_POLICIES:
                causes.append(field.not_supported(f"spec.{key}", spec[key], _TRAFFIC_POLICIES))
        if "externalTrafficPolicy" in spec and not _has_node_ports(spec):
            causes.append(field.invalid("spec.externalTrafficPolicy",
                                        spec["externalTrafficPolicy"],
                                        "may only be set when `type` is 'NodePort' or "
                                        "'LoadBalancer'"))
        cluster_ip = spec.get("clusterIP")
        if kind == "ExternalName":
            name = spec.get("externalName")
            if not name:
                causes.append(field.required("spec.externalName"))
            else:  # a CNAME target the DNS server serves: a trailing dot means fully qualified
                causes += meta.validate_name(name.removesuffix(".") if isinstance(name, str)
                                             else name, "spec.externalName",
                                             meta.dns1123_subdomain)
            if cluster_ip:
                causes.append(field.forbidden("spec.clusterIPs",
                                              "may not be set for ExternalName services"))
        elif cluster_ip and cluster_ip != "None":
            causes += _ip_causes(cluster_ip, "spec.clusterIPs[0]") or \
                _family_causes(cluster_ip, spec.get("ipFamilies"))
        for i, family in enumerate(as_list(spec.get("ipFamilies"))):
            if family not in _FAMILIES:
                causes.append(field.not_supported(f"spec.ipFamilies[{i}]", family, _FAMILIES))
            elif family != "IPv4":  # a single-stack IPv4 cluster, as the proxy programs it
                causes.append(field.invalid(f"spec.ipFamilies[{i}]", family,
                                            "not configured on this cluster"))
        selector = spec.get("selector")
        if selector is not None:
            causes += meta.validate_labels(selector, "spec.selector")
        for i, ip in enumerate(as_list(spec.get("externalIPs"))):
            causes += _ip_causes(ip, f"spec.externalIPs[{i}]") or \
                _special_ip_causes(ip, f"spec.externalIPs[{i}]")
        causes += _validate_load_balancer(spec, kind)
        causes += _validate_ports(spec, kind)
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        old_ip, new_ip = dig(old, "spec", "clusterIP"), dig(new, "spec", "clusterIP")
        if old_ip and new_ip != old_ip and dig(new, "spec", "type") != "ExternalName":
            return [field.invalid("spec.clusterIPs[0]", new_ip,
                                  "may not change once set")]
        return []

    def prepare_update(self, new: Object, old: Object, subresource: str | None = None) -> None:
        """Keep allocated clusterIP and nodePorts a client omitted (PatchAllocatedValues)."""
        super().prepare_update(new, old, subresource)
        new_spec, old_spec = new.get("spec"), as_dict(old.get("spec"))
        if not isinstance(new_spec, dict) or new_spec.get("type") == "ExternalName":
            return
        if not new_spec.get("clusterIP") and old_spec.get("clusterIP"):
            new_spec["clusterIP"] = old_spec["clusterIP"]
            new_spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
        allocated = {_port_key(p): p.get("nodePort")
                     for p in dicts(old_spec.get("ports")) if p.get("nodePort")}
        if _has_node_ports(new_spec):
            for port in dicts(new_spec.get("ports")):
                if not port.get("nodePort"):
                    node_port = allocated.get(_port_key(port))
                    if node_port:
                        port["nodePort"] = node_port
        elif _has_node_ports(old_spec):
            # A type change away from NodePort/LoadBalancer drops what only those types
            # carry, unless the client changed it (Kubernetes' dropTypeDependentFields).
            for port in dicts(new_spec.get("ports")):
                if port.get("nodePort") and port["nodePort"] == allocated.get(_port_key(port)):
                    del port["nodePort"]
            if new_spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
                new_spec.pop("externalTrafficPolicy", None)
        held = old_spec.get("healthCheckNodePort")
        if held and _needs_health_check(new_spec):
            new_spec.setdefault("healthCheckNodePort", held)
        elif held and new_spec.get("healthCheckNodePort") == held:
            del new_spec["healthCheckNodePort"]  # Kubernetes' dropTypeDependentFields
        if new_spec.get("ipFamilies") is None and old_spec.get("ipFamilies"):
            new_spec["ipFamilies"] = list(old_spec["ipFamilies"])

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"spec.clusterIP": str_field(dig(obj, "spec", "clusterIP")),
                "spec.type": str_field(dig(obj, "spec", "type"))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        ports = [f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
                 if p.get("nodePort") else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                 for p in dicts(spec.get("ports"))]
        return [table.name(obj), spec.get("type", "ClusterIP"),
                spec.get("clusterIP") or "<none>", _external_ip(obj),
                ",".join(ports) or "<none>", table.age(obj, now),
                format_labels(spec.get("selector"))]


def _external_ip(svc: Mapping[str, Any]) -> str:
    spec = as_dict(svc.get("spec"))
    external = list(as_list(spec.get("externalIPs")))
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    if kind == "LoadBalancer":
        ingress = dig(svc, "status", "loadBalancer", "ingress", default=[])
        found = [i.get("ip") or i.get("hostname") for i in ingress] + external
        return ",".join(x for x in found if x) or "<pending>"
    return ",".join(external) or "<none>"


def _validate_load_balancer(spec: Mapping[str, Any], kind: str) -> list[Cause]:
    """The fields only a LoadBalancer (or a Local one) may carry, well-formed."""
    causes: list[Cause] = []
    only_lb = "may only be used when `type` is 'LoadBalancer'"
    if spec.get("loadBalancerIP"):
        causes += _ip_causes(spec["loadBalancerIP"], "spec.loadBalancerIP")
    ranges = spec.get("loadBalancerSourceRanges")
    if ranges and kind != "LoadBalancer":
        causes.append(field.forbidden("spec.loadBalancerSourceRanges", only_lb))
    for i, cidr in enumerate(as_list(ranges)):
        try:  # ipaddress takes an int too; Kubernetes' decoder only strings
            ipaddress.ip_network(cidr if isinstance(cidr, str) else "", strict=False)
        except ValueError:
            causes.append(field.invalid(f"spec.loadBalancerSourceRanges[{i}]", cidr,
                                        "must be a list of IP ranges. For example, "
                                        "10.240.0.0/24,10.250.0.0/24 "))
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if kind != "LoadBalancer":
            causes.append(field.forbidden("spec.loadBalancerClass", only_lb))
        elif not isinstance(lb_class, str) or meta.label_key_errors(lb_class):
            causes.append(field.invalid("spec.loadBalancerClass", lb_class,
                                        "must be a qualified name (e.g. 'example.com/lb')"))
    if spec.get("healthCheckNodePort") and not _needs_health_check(spec):
        causes.append(field.invalid("spec.healthCheckNodePort", spec["healthCheckNodePort"],
                                    "may only be set when `type` is 'LoadBalancer' and "
                                    "`externalTrafficPolicy` is 'Local'"))
    return causes


def _affinity_timeout_causes(spec: Mapping[str, Any]) -> list[Cause]:
    """kube's range for the ClientIP affinity timeout (the proxy's `recent` match)."""
    config = spec.get("sessionAffinityConfig")
    client_ip = config.get("clientIP") if isinstance(config, Mapping) else None
    if spec.get("sessionAffinity") != "ClientIP" or not isinstance(client_ip, Mapping) \
            or "timeoutSeconds" not in client_ip:
        return []
    seconds = client_ip["timeoutSeconds"]
    if isinstance(seconds, int) and not isinstance(seconds, bool) \
            and 0 < seconds <= MAX_AFFINITY_SECONDS:
        return []
    return [field.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", seconds,
                          f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}")]


def _family_causes(cluster_ip: str, families: Any) -> list[Cause]:
    """kube's check that the clusterIP is of the family ipFamilies[0] names."""
    first = families[0] if isinstance(families, list) and families else "IPv4"
    if first not in _FAMILIES or ipaddress.ip_address(cluster_ip).version == (
            4 if first == "IPv4" else 6):
        return []
    return [field.invalid("spec.clusterIPs[0]", cluster_ip,
                          f"expected an {first} value as indicated by `ipFamilies[0]`")]


_LINK_LOCAL_MULTICAST = ipaddress.ip_network("224.0.0.0/24")


def _ip_causes(value: Any, path: str) -> list[Cause]:
    try:  # ipaddress takes an int too (3232235777: 192.168.1.1); Kubernetes' decoder only strings
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        return [field.invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or "
                                           "2001:db8::ffff)")]
    return []


def _special_ip_causes(value: str, path: str) -> list[Cause]:
    """Kubernetes' ValidateNonSpecialIP: the proxy matches an external IP in nat OUTPUT too,
    so 127.0.0.1:2379 would send each node's own connections to etcd to the Service."""
    ip = ipaddress.ip_address(value)
    multicast = ip in _LINK_LOCAL_MULTICAST if ip.version == 4 else \
        ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02
    return [field.invalid(path, value, why) for special, why in (
        (ip.is_unspecified, f"may not be unspecified ({value})"),
        (ip.is_loopback, "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        (ip.is_link_local, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        (multicast, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    ) if special]


def _validate_ports(spec: Mapping[str, Any], kind: str) -> list[Cause]:
    ports = spec.get("ports")
    if ports is None or ports == []:
        if kind != "ExternalName" and spec.get("clusterIP") != "None":
            return [field.required("spec.ports")]
        return []
    causes: list[Cause] = []
    names: set[str] = set()
    seen: set[str] = set()
    low, high = NODE_PORT_RANGE
    for here, port in field.objects(ports, "spec.ports", causes):
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(field.required(f"{here}.name"))
        elif name:
            if str(name) in names:
                causes.append(field.duplicate(f"{here}.name", name))
            names.add(str(name))
            causes += meta.validate_name(name, f"{here}.name", meta.dns1123_label)
        if port.get("port") is None:
            causes.append(field.required(f"{here}.port"))
        else:
            causes += podspec.port_number_causes(port.get("port"), f"{here}.port")
        protocol = port.get("protocol", "TCP")
        if protocol not in podspec.PROTOCOLS:
            causes.append(field.not_supported(f"{here}.protocol", protocol, podspec.PROTOCOLS))
        identity = f"{port.get('port')}/{protocol}"
        if identity in seen:
            causes.append(field.duplicate(here, {"port": port.get("port"),
                                                 "protocol": protocol}))
        seen.add(identity)
        target = port.get("targetPort")
        if isinstance(target, str):
            causes += [field.invalid(f"{here}.targetPort", target, p)
                       for p in podspec.port_name_errors(target)]
        elif target is not None:
            causes += podspec.port_number_causes(target, f"{here}.targetPort")
        node_port = port.get("nodePort")
        if node_port:
            if not _has_node_ports(spec):
                causes.append(field.forbidden(f"{here}.nodePort",
                                              f"may not be used when `type` is '{kind}'"))
            elif not isinstance(node_port, int) or not low <= node_port <= high:
                causes.append(field.invalid(f"{here}.nodePort", node_port,
                                            "provided port is not in the valid range. The "
                                            f"range of valid ports is {low}-{high}"))
    return causes
