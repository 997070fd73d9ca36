"""Validation: one case per cause path, named by the field it reports.

Each case starts from a valid object of its kind, breaks one thing, and
checks the exact field path and reason Kubernetes would report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api import errors, resources
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from tests.fixtures.api_strategies import DELETE, created_causes, set_path

Obj = dict[str, Any]


def _meta(name: str, namespace: str | None = "default") -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _pod_spec() -> Obj:
    return {"containers": [{"name": "app", "image": "busybox:1.36",
                            "ports": [{"containerPort": 80, "name": "http"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "env": [{"name": "MY_ENV.name-1", "value": "x"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi",
                                                       "example.com/gpu": "1"},
                                          "limits": {"cpu": "1", "memory": "128Mi",
                                                     "hugepages-2Mi": "2Mi"}},
                            "readinessProbe": {"httpGet": {"port": "http"}}}],
            "volumes": [{"name": "data", "emptyDir": {}}]}


def _template() -> Obj:
    return {"metadata": {"labels": {"app": "web"}}, "spec": _pod_spec()}


VALID: dict[Resource, Obj] = {
    resources.PODS: {"metadata": _meta("web"), "spec": _pod_spec()},
    resources.SERVICES: {"metadata": _meta("web"), "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"},
                                              {"name": "https", "port": 443}]}},
    resources.ENDPOINTS: {"metadata": _meta("web"), "subsets": [
        {"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]},
    resources.NODES: {"metadata": _meta("node-1", None), "spec": {
        "podCIDR": "10.244.1.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]}},
    resources.NAMESPACES: {"metadata": _meta("team-a", None)},
    resources.SERVICEACCOUNTS: {"metadata": _meta("builder")},
    resources.SECRETS: {"metadata": _meta("creds"), "data": {"password": "aHVudGVyMg=="}},
    resources.CONFIGMAPS: {"metadata": _meta("cfg"), "data": {"app.conf": "x=1"}},
    resources.EVENTS: {"metadata": _meta("web.1"), "type": "Normal", "reason": "Started",
                       "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}},
    resources.DEPLOYMENTS: {"metadata": _meta("web"), "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    resources.REPLICASETS: {"metadata": _meta("web-1"), "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    resources.LEASES: {"metadata": _meta("lock"), "spec": {"holderIdentity": "a",
                                                           "leaseDurationSeconds": 15}},
    resources.REPLICATIONCONTROLLERS: {"metadata": _meta("web"), "spec": {
        "replicas": 2, "template": _template()}},
    resources.DAEMONSETS: {"metadata": _meta("agent"), "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    resources.STATEFULSETS: {"metadata": _meta("db"), "spec": {
        "replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "web"}},
        "template": _template(), "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}},
    resources.PODDISRUPTIONBUDGETS: {"metadata": _meta("web"), "spec": {
        "minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}},
    resources.CONTROLLERREVISIONS: {"metadata": _meta("agent-1"), "revision": 1,
                                    "data": {"spec": {"template": {"$patch": "replace"}}}},
    resources.JOBS: {"metadata": _meta("pi"), "spec": {
        "completions": 3, "template": {"spec": {**_pod_spec(), "restartPolicy": "Never"}}}},
    resources.CRONJOBS: {"metadata": _meta("backup"), "spec": {
        "schedule": "*/5 * * * *", "timeZone": "Europe/Paris", "jobTemplate": {"spec": {
            "template": {"spec": {**_pod_spec(), "restartPolicy": "OnFailure"}}}}}},
}


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.plural) for r in VALID])
def test_valid_objects_have_no_causes(resource: Resource) -> None:
    assert created_causes(resource, VALID[resource]) == []


P, S, D, N = resources.PODS, resources.SERVICES, resources.DEPLOYMENTS, resources.NODES
J, C, DS = resources.JOBS, resources.CRONJOBS, resources.DAEMONSETS
STS, PDB = resources.STATEFULSETS, resources.PODDISRUPTIONBUDGETS
RC = resources.REPLICATIONCONTROLLERS
CASES = [
    # metadata
    (P, set_path("metadata.name", "Bad_Name"), "metadata.name", "FieldValueInvalid"),
    (P, set_path("metadata.name", DELETE), "metadata.name", "FieldValueRequired"),
    (P, set_path("metadata.name", "x" * 254), "metadata.name", "FieldValueInvalid"),
    (P, set_path("metadata.namespace", DELETE), "metadata.namespace", "FieldValueRequired"),
    (N, set_path("metadata.namespace", "default"), "metadata.namespace", "FieldValueForbidden"),
    (P, set_path("metadata.labels", {"bad key!": "v"}), "metadata.labels", "FieldValueInvalid"),
    (P, set_path("metadata.labels", {"k": "bad value!"}), "metadata.labels", "FieldValueInvalid"),
    (P, set_path("metadata.labels", {"k": 5}), "metadata.labels", "FieldValueInvalid"),
    (P, set_path("metadata.annotations", {"k": "v" * 300000}), "metadata.annotations",
     "FieldValueTooLong"),
    (P, set_path("metadata.ownerReferences", [{"kind": "ReplicaSet"}]),
     "metadata.ownerReferences[0].apiVersion", "FieldValueRequired"),
    (P, set_path("metadata.finalizers", [""]), "metadata.finalizers[0]", "FieldValueInvalid"),
    (resources.NAMESPACES, set_path("metadata.name", "a.b"), "metadata.name", "FieldValueInvalid"),
    (S, set_path("metadata.name", "1web"), "metadata.name", "FieldValueInvalid"),
    # pods
    (P, set_path("spec.containers", []), "spec.containers", "FieldValueRequired"),
    (P, set_path("spec.containers.0.name", DELETE), "spec.containers[0].name", "FieldValueRequired"),
    (P, set_path("spec.containers.0.name", "App"), "spec.containers[0].name", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.image", ""), "spec.containers[0].image", "FieldValueRequired"),
    (P, set_path("spec.containers.0.image", " x"), "spec.containers[0].image", "FieldValueInvalid"),
    (P, set_path("spec.initContainers", [{"name": "app", "image": "x"}]), "spec.containers[0].name",
     "FieldValueDuplicate"),
    (P, set_path("spec.containers.0.ports.0.containerPort", 70000),
     "spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.ports.0.containerPort", DELETE),
     "spec.containers[0].ports[0].containerPort", "FieldValueRequired"),
    (P, set_path("spec.containers.0.ports.0.protocol", "HTTP"),
     "spec.containers[0].ports[0].protocol", "FieldValueNotSupported"),
    (P, set_path("spec.containers.0.ports.0.name", "a_b"), "spec.containers[0].ports[0].name",
     "FieldValueInvalid"),
    (P, set_path("spec.containers.0.ports.0.hostPort", -1), "spec.containers[0].ports[0].hostPort",
     "FieldValueInvalid"),
    (P, set_path("spec.containers.0.resources.limits.cpu", "12XB"),
     "spec.containers[0].resources.limits[cpu]", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.resources.requests.memory", "-1"),
     "spec.containers[0].resources.requests[memory]", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.resources.requests.cpu", "2"),
     "spec.containers[0].resources.requests", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.volumeMounts.0.name", "other"),
     "spec.containers[0].volumeMounts[0].name", "FieldValueNotFound"),
    (P, set_path("spec.containers.0.volumeMounts.0.mountPath", ""),
     "spec.containers[0].volumeMounts[0].mountPath", "FieldValueRequired"),
    (P, set_path("spec.volumes", [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}]),
     "spec.volumes[1].name", "FieldValueDuplicate"),
    (P, set_path("spec.volumes.0", {"name": "data"}), "spec.volumes[0]", "FieldValueRequired"),
    (P, set_path("spec.volumes.0.hostPath", {"path": "/x"}), "spec.volumes[0].hostPath",
     "FieldValueForbidden"),
    (P, set_path("spec.containers.0.readinessProbe", {"periodSeconds": 1}),
     "spec.containers[0].readinessProbe", "FieldValueRequired"),
    (P, set_path("spec.containers.0.readinessProbe.periodSeconds", -1),
     "spec.containers[0].readinessProbe.periodSeconds", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.readinessProbe.httpGet.port", 0),
     "spec.containers[0].readinessProbe.httpGet.port", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.readinessProbe.exec", {"command": ["true"]}),
     "spec.containers[0].readinessProbe.httpGet", "FieldValueForbidden"),
    (P, set_path("spec.containers.0.env", [{"value": "x"}]), "spec.containers[0].env[0].name",
     "FieldValueRequired"),
    (P, set_path("spec.containers.0.env", [{"name": "1A", "value": "x"}]),
     "spec.containers[0].env[0].name", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.resources.limits.gpu", "1"),
     "spec.containers[0].resources.limits[gpu]", "FieldValueInvalid"),
    (P, set_path("spec.containers.0.command", "sleep 1"), "spec.containers[0].command",
     "FieldValueInvalid"),
    (P, set_path("spec.restartPolicy", "Sometimes"), "spec.restartPolicy", "FieldValueNotSupported"),
    (P, set_path("spec.dnsPolicy", "Nope"), "spec.dnsPolicy", "FieldValueNotSupported"),
    (P, set_path("spec.dnsPolicy", "None"), "spec.dnsConfig", "FieldValueRequired"),
    (P, set_path("spec.dnsConfig", {"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "9.9.9.9"]}),
     "spec.dnsConfig.nameservers", "FieldValueInvalid"),
    (P, set_path("spec.dnsConfig", {"nameservers": ["not-an-ip"]}),
     "spec.dnsConfig.nameservers[0]", "FieldValueInvalid"),
    (P, set_path("spec.dnsConfig", {"searches": [f"s{i}.example" for i in range(33)]}),
     "spec.dnsConfig.searches", "FieldValueInvalid"),
    (P, set_path("spec.dnsConfig", {"searches": ["Bad_Domain"]}), "spec.dnsConfig.searches[0]",
     "FieldValueInvalid"),
    (P, set_path("spec.dnsConfig", {"options": [{"value": "2"}]}),
     "spec.dnsConfig.options[0].name", "FieldValueRequired"),
    (P, set_path("spec.terminationGracePeriodSeconds", -5), "spec.terminationGracePeriodSeconds",
     "FieldValueInvalid"),
    (P, set_path("spec.activeDeadlineSeconds", 0), "spec.activeDeadlineSeconds", "FieldValueInvalid"),
    (P, set_path("spec.nodeName", "Bad Node"), "spec.nodeName", "FieldValueInvalid"),
    (P, set_path("spec.nodeSelector", {"a": 1}), "spec.nodeSelector", "FieldValueInvalid"),
    (P, set_path("spec.tolerations", [{"key": "k", "operator": "Maybe"}]),
     "spec.tolerations[0].operator", "FieldValueNotSupported"),
    (P, set_path("spec.tolerations", [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 3}]),
     "spec.tolerations[0].effect", "FieldValueInvalid"),
    # services
    (S, set_path("spec.ports", []), "spec.ports", "FieldValueRequired"),
    (S, set_path("spec.ports.1.name", DELETE), "spec.ports[1].name", "FieldValueRequired"),
    (S, set_path("spec.ports.1.name", "http"), "spec.ports[1].name", "FieldValueDuplicate"),
    (S, set_path("spec.ports.0.port", 0), "spec.ports[0].port", "FieldValueInvalid"),
    (S, set_path("spec.ports.0.protocol", "ICMP"), "spec.ports[0].protocol",
     "FieldValueNotSupported"),
    (S, set_path("spec.ports.0.targetPort", 99999), "spec.ports[0].targetPort", "FieldValueInvalid"),
    (S, set_path("spec.ports.0.targetPort", "Bad_Name"), "spec.ports[0].targetPort",
     "FieldValueInvalid"),
    (S, set_path("spec.ports.0.nodePort", 30080), "spec.ports[0].nodePort", "FieldValueForbidden"),
    (S, lambda o: o["spec"].update(type="NodePort", ports=[{"port": 80, "nodePort": 80}]),
     "spec.ports[0].nodePort", "FieldValueInvalid"),
    (S, set_path("spec.type", "Magic"), "spec.type", "FieldValueNotSupported"),
    (S, set_path("spec.sessionAffinity", "Sticky"), "spec.sessionAffinity", "FieldValueNotSupported"),
    *((S, lambda o, t=t: o["spec"].update(sessionAffinity="ClientIP", sessionAffinityConfig={
        "clientIP": {"timeoutSeconds": t}}), "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
       "FieldValueInvalid") for t in (0, 86401, "60", True)),
    (S, set_path("spec.clusterIP", "10.96.0.999"), "spec.clusterIPs[0]", "FieldValueInvalid"),
    (S, set_path("spec.clusterIP", "fd00::10"), "spec.clusterIPs[0]", "FieldValueInvalid"),
    (S, set_path("spec.ipFamilies", ["IPv6"]), "spec.ipFamilies[0]", "FieldValueInvalid"),
    (S, set_path("spec.ipFamilies", ["IPv5"]), "spec.ipFamilies[0]", "FieldValueNotSupported"),
    (S, set_path("spec.externalTrafficPolicy", "Local"), "spec.externalTrafficPolicy",
     "FieldValueInvalid"),
    (S, set_path("spec.type", "ExternalName"), "spec.externalName", "FieldValueRequired"),
    # Kubernetes' ValidateDNS1123Subdomain: the DNS server serves it as a CNAME target.
    (S, lambda o: o["spec"].update(type="ExternalName", externalName="a\nb..c"),
     "spec.externalName", "FieldValueInvalid"),
    # Kubernetes' decoder takes only strings: ipaddress also takes 3232235777 (192.168.1.1).
    (S, set_path("spec.externalIPs", [3232235777]), "spec.externalIPs[0]", "FieldValueInvalid"),
    # Kubernetes' ValidateNonSpecialIP: 127.0.0.1:2379 would send every node's own
    # connections to etcd (nat OUTPUT) to the Service's pods.
    (S, set_path("spec.externalIPs", ["127.0.0.1"]), "spec.externalIPs[0]", "FieldValueInvalid"),
    (S, set_path("spec.externalIPs", ["169.254.169.254"]), "spec.externalIPs[0]",
     "FieldValueInvalid"),
    (S, set_path("spec.externalIPs", ["0.0.0.0"]), "spec.externalIPs[0]", "FieldValueInvalid"),
    (S, set_path("spec.externalIPs", ["224.0.0.251"]), "spec.externalIPs[0]",
     "FieldValueInvalid"),
    (S, lambda o: o["spec"].update(type="LoadBalancer", loadBalancerSourceRanges=[167772160]),
     "spec.loadBalancerSourceRanges[0]", "FieldValueInvalid"),
    (S, set_path("spec.selector", {"app": "bad value!"}), "spec.selector", "FieldValueInvalid"),
    (S, set_path("spec.externalIPs", ["nope"]), "spec.externalIPs[0]", "FieldValueInvalid"),
    (S, set_path("spec.loadBalancerIP", "1.2.3"), "spec.loadBalancerIP", "FieldValueInvalid"),
    (S, set_path("spec.loadBalancerSourceRanges", ["10.0.0.0/8"]),
     "spec.loadBalancerSourceRanges", "FieldValueForbidden"),
    (S, lambda o: o["spec"].update(type="LoadBalancer", loadBalancerSourceRanges=["x/8"]),
     "spec.loadBalancerSourceRanges[0]", "FieldValueInvalid"),
    (S, set_path("spec.loadBalancerClass", "example.com/lb"), "spec.loadBalancerClass",
     "FieldValueForbidden"),
    (S, lambda o: o["spec"].update(type="LoadBalancer", loadBalancerClass="bad class"),
     "spec.loadBalancerClass", "FieldValueInvalid"),
    (S, lambda o: o["spec"].update(type="LoadBalancer", healthCheckNodePort=30500),
     "spec.healthCheckNodePort", "FieldValueInvalid"),
    # endpoints, nodes, namespaces
    (resources.ENDPOINTS, set_path("subsets.0.addresses.0.ip", "300.1.1.1"),
     "subsets[0].addresses[0].ip", "FieldValueInvalid"),
    (resources.ENDPOINTS, set_path("subsets.0.addresses.0.ip", 167772161),
     "subsets[0].addresses[0].ip", "FieldValueInvalid"),
    (resources.ENDPOINTS, set_path("subsets.0.addresses.0.hostname", "a.b"),
     "subsets[0].addresses[0].hostname", "FieldValueInvalid"),
    (resources.ENDPOINTS, set_path("subsets.0.ports.0.port", 0), "subsets[0].ports[0].port",
     "FieldValueInvalid"),
    (N, set_path("spec.podCIDR", "10.244.1.0/33"), "spec.podCIDRs", "FieldValueInvalid"),
    (N, set_path("spec.taints.0.effect", "Evict"), "spec.taints[0].effect", "FieldValueNotSupported"),
    (N, set_path("spec.taints.0.key", ""), "spec.taints[0].key", "FieldValueRequired"),
    (resources.NAMESPACES, set_path("spec.finalizers", ["nope"]), "spec.finalizers[0]",
     "FieldValueInvalid"),
    # secrets, configmaps
    (resources.SECRETS, set_path("data.password", "not base64!"), "data[password]",
     "FieldValueInvalid"),
    (resources.SECRETS, set_path("data.bad key", "eA=="), "data[bad key]", "FieldValueInvalid"),
    (resources.SECRETS, set_path("type", "kubernetes.io/tls"), "data[tls.crt]", "FieldValueRequired"),
    (resources.SECRETS, set_path("type", "kubernetes.io/service-account-token"),
     "metadata.annotations[kubernetes.io/service-account.name]", "FieldValueRequired"),
    (resources.CONFIGMAPS, set_path("data.a/b", "x"), "data[a/b]", "FieldValueInvalid"),
    (resources.CONFIGMAPS, set_path("data.k", 5), "data[k]", "FieldValueInvalid"),
    (resources.CONFIGMAPS, set_path("binaryData", {"app.conf": "eA=="}), "data[app.conf]",
     "FieldValueInvalid"),
    (resources.CONFIGMAPS, set_path("binaryData", {"b": "%%%"}), "binaryData[b]",
     "FieldValueInvalid"),
    (resources.CONFIGMAPS, set_path("data.big", "x" * (1024 * 1024 + 1)), "", "FieldValueTooLong"),
    # events, leases, service accounts
    (resources.EVENTS, set_path("involvedObject", DELETE), "involvedObject", "FieldValueRequired"),
    (resources.EVENTS, set_path("involvedObject.namespace", "other"), "involvedObject.namespace",
     "FieldValueInvalid"),
    (resources.EVENTS, set_path("type", "Critical"), "type", "FieldValueNotSupported"),
    (resources.EVENTS, set_path("count", -1), "count", "FieldValueInvalid"),
    (resources.LEASES, set_path("spec.leaseDurationSeconds", 0), "spec.leaseDurationSeconds",
     "FieldValueInvalid"),
    (resources.LEASES, set_path("spec.leaseTransitions", -1), "spec.leaseTransitions",
     "FieldValueInvalid"),
    (resources.SERVICEACCOUNTS, set_path("secrets", "x"), "secrets", "FieldValueInvalid"),
    # deployments and replicasets
    (D, set_path("spec.selector", DELETE), "spec.selector", "FieldValueRequired"),
    (D, set_path("spec.selector", {}), "spec.selector", "FieldValueInvalid"),
    (D, set_path("spec.selector.matchLabels.app", "db"), "spec.template.metadata.labels",
     "FieldValueInvalid"),
    (D, set_path("spec.selector.matchExpressions", [{"key": "a", "operator": "Near"}]),
     "spec.selector", "FieldValueInvalid"),
    (D, set_path("spec.replicas", -1), "spec.replicas", "FieldValueInvalid"),
    (D, set_path("spec.template", DELETE), "spec.template", "FieldValueRequired"),
    (D, set_path("spec.template.spec.restartPolicy", "Never"), "spec.template.spec.restartPolicy",
     "FieldValueNotSupported"),
    (D, set_path("spec.template.spec.containers.0.image", ""),
     "spec.template.spec.containers[0].image", "FieldValueRequired"),
    (D, set_path("spec.strategy", {"type": "Recreate", "rollingUpdate": {}}),
     "spec.strategy.rollingUpdate", "FieldValueForbidden"),
    (D, set_path("spec.strategy", {"type": "Canary"}), "spec.strategy.type",
     "FieldValueNotSupported"),
    (D, set_path("spec.strategy", {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
     "spec.strategy.rollingUpdate.maxUnavailable", "FieldValueInvalid"),
    (D, set_path("spec.strategy", {"rollingUpdate": {"maxSurge": "150%"}}),
     "spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid"),
    (D, set_path("spec.strategy", {"rollingUpdate": {"maxSurge": "x%"}}),
     "spec.strategy.rollingUpdate.maxSurge", "FieldValueInvalid"),
    (D, set_path("spec.minReadySeconds", 700), "spec.progressDeadlineSeconds", "FieldValueInvalid"),
    (D, set_path("spec.revisionHistoryLimit", -1), "spec.revisionHistoryLimit", "FieldValueInvalid"),
    (resources.REPLICASETS, set_path("spec.template.metadata.labels", {"app": "other"}),
     "spec.template.metadata.labels", "FieldValueInvalid"),
    # replicationcontrollers
    (RC, set_path("spec.selector", {"app": "other"}), "spec.template.metadata.labels",
     "FieldValueInvalid"),
    (RC, set_path("spec.selector", {"bad key!": "x"}), "spec.selector", "FieldValueInvalid"),
    (RC, set_path("spec.template", DELETE), "spec.selector", "FieldValueRequired"),
    (RC, set_path("spec.template.spec.restartPolicy", "Never"),
     "spec.template.spec.restartPolicy", "FieldValueNotSupported"),
    # daemonsets
    (DS, set_path("spec.updateStrategy", {"type": "Sometimes"}), "spec.updateStrategy.type",
     "FieldValueNotSupported"),
    (DS, set_path("spec.updateStrategy", {"type": "OnDelete", "rollingUpdate": {}}),
     "spec.updateStrategy.rollingUpdate", "FieldValueForbidden"),
    (DS, set_path("spec.updateStrategy", {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
     "spec.updateStrategy.rollingUpdate.maxUnavailable", "FieldValueInvalid"),
    (DS, set_path("spec.template.spec.restartPolicy", "Never"), "spec.template.spec.restartPolicy",
     "FieldValueNotSupported"),
    (DS, set_path("spec.selector", DELETE), "spec.selector", "FieldValueRequired"),
    (STS, set_path("spec.podManagementPolicy", "Random"), "spec.podManagementPolicy",
     "FieldValueNotSupported"),
    (STS, set_path("spec.updateStrategy", {"rollingUpdate": {"partition": -1}}),
     "spec.updateStrategy.rollingUpdate.partition", "FieldValueInvalid"),
    (STS, set_path("spec.updateStrategy", {"rollingUpdate": {"maxUnavailable": 0}}),
     "spec.updateStrategy.rollingUpdate.maxUnavailable", "FieldValueInvalid"),
    (STS, set_path("spec.persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Shred"}),
     "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "FieldValueNotSupported"),
    (STS, set_path("spec.volumeClaimTemplates", [{"metadata": {}}]),
     "spec.volumeClaimTemplates[0].metadata.name", "FieldValueRequired"),
    (PDB, set_path("spec.maxUnavailable", 1), "spec", "FieldValueInvalid"),
    (PDB, set_path("spec.minAvailable", "150%"), "spec.minAvailable", "FieldValueInvalid"),
    (PDB, set_path("spec.minAvailable", -1), "spec.minAvailable", "FieldValueInvalid"),
    (PDB, set_path("spec.unhealthyPodEvictionPolicy", "Never"),
     "spec.unhealthyPodEvictionPolicy", "FieldValueNotSupported"),
    (PDB, set_path("spec.selector", {"matchExpressions": [{"key": "a", "operator": "Near"}]}),
     "spec.selector", "FieldValueInvalid"),
    (resources.CONTROLLERREVISIONS, set_path("revision", -1), "revision", "FieldValueInvalid"),
    (resources.CONTROLLERREVISIONS, set_path("revision", DELETE), "revision", "FieldValueRequired"),
    # jobs
    (J, set_path("spec.template.spec.restartPolicy", "Always"), "spec.template.spec.restartPolicy",
     "FieldValueNotSupported"),
    (J, set_path("spec.template.spec.restartPolicy", DELETE), "spec.template.spec.restartPolicy",
     "FieldValueNotSupported"),
    (J, set_path("spec.parallelism", -1), "spec.parallelism", "FieldValueInvalid"),
    (J, set_path("spec.backoffLimit", -1), "spec.backoffLimit", "FieldValueInvalid"),
    (J, set_path("spec.activeDeadlineSeconds", 0), "spec.activeDeadlineSeconds",
     "FieldValueInvalid"),
    (J, set_path("spec.ttlSecondsAfterFinished", -5), "spec.ttlSecondsAfterFinished",
     "FieldValueInvalid"),
    (J, set_path("spec.completionMode", "Sometimes"), "spec.completionMode",
     "FieldValueNotSupported"),
    (J, lambda o: o["spec"].update(completionMode="Indexed", completions=None, parallelism=2),
     "spec.completions", "FieldValueRequired"),
    (J, set_path("spec.selector", {"matchLabels": {"app": "x"}}), "spec.template.metadata.labels",
     "FieldValueInvalid"),
    (J, lambda o: o["spec"].update(selector={"matchLabels": {"app": "x"}}, manualSelector=True),
     "spec.template.metadata.labels", "FieldValueInvalid"),
    (J, set_path("spec.podFailurePolicy", {"rules": [{"action": "FailJob", "onExitCodes": {
        "operator": "In", "values": [0]}}]}),
     "spec.podFailurePolicy.rules[0].onExitCodes.values[0]", "FieldValueInvalid"),
    (J, set_path("spec.podFailurePolicy", {"rules": [{"action": "Explode", "onExitCodes": {
        "operator": "In", "values": [1]}}]}), "spec.podFailurePolicy.rules[0].action",
     "FieldValueNotSupported"),
    (J, lambda o: o["spec"].update(podFailurePolicy={"rules": []}, template={"spec": {
        **_pod_spec(), "restartPolicy": "OnFailure"}}), "spec.podFailurePolicy",
     "FieldValueInvalid"),
    # cronjobs
    (C, set_path("spec.schedule", "61 * * * *"), "spec.schedule", "FieldValueInvalid"),
    (C, set_path("spec.schedule", DELETE), "spec.schedule", "FieldValueRequired"),
    (C, set_path("spec.schedule", "CRON_TZ=UTC 0 * * * *"), "spec.schedule", "FieldValueInvalid"),
    (C, set_path("spec.timeZone", "Mars/Olympus"), "spec.timeZone", "FieldValueInvalid"),
    (C, set_path("spec.concurrencyPolicy", "Sometimes"), "spec.concurrencyPolicy",
     "FieldValueNotSupported"),
    (C, set_path("spec.startingDeadlineSeconds", -1), "spec.startingDeadlineSeconds",
     "FieldValueInvalid"),
    (C, set_path("spec.failedJobsHistoryLimit", -1), "spec.failedJobsHistoryLimit",
     "FieldValueInvalid"),
    (C, set_path("spec.jobTemplate.spec.template.spec.restartPolicy", "Always"),
     "spec.jobTemplate.spec.template.spec.restartPolicy", "FieldValueNotSupported"),
    (C, set_path("metadata.name", "b" * 53), "metadata.name", "FieldValueInvalid"),
]


def _case_id(case: tuple[Resource, Any, str, str]) -> str:
    return f"{case[0].plural}:{case[2] or '<root>'}:{case[3]}"


@pytest.mark.parametrize(("resource", "mutate", "path", "reason"),
                         [pytest.param(*c, id=_case_id(c)) for c in CASES])
def test_cause(resource: Resource, mutate: Callable[[Obj], None], path: str,
               reason: str) -> None:
    obj = copy.deepcopy(VALID[resource])
    mutate(obj)
    causes = created_causes(resource, obj)
    assert (path, reason) in [(c.field, c.reason) for c in causes], causes


def test_invalid_status_lists_every_cause_like_kubernetes() -> None:
    obj = copy.deepcopy(VALID[resources.PODS])
    obj["spec"]["containers"][0]["name"] = ""
    obj["spec"]["containers"][0]["image"] = ""
    status = errors.invalid(resources.PODS, "web", created_causes(resources.PODS, obj)).to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == ('Pod "web" is invalid: [spec.containers[0].name: Required '
                                 'value, spec.containers[0].image: Required value]')
    assert status["details"]["causes"][0] == {"reason": "FieldValueRequired",
                                              "message": "Required value",
                                              "field": "spec.containers[0].name"}
    single = errors.invalid(resources.DEPLOYMENTS, "d", [errors.Cause("spec.x", "Required value",
                                                                      "FieldValueRequired")])
    assert single.message == 'Deployment.apps "d" is invalid: spec.x: Required value'
    assert single.details == {"name": "d", "group": "apps", "kind": "Deployment", "causes": [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.x"}]}


def _updated(resource: Resource, old: Obj, change: Callable[[Obj], None],
             subresource: str | None = None) -> tuple[Obj, list[errors.Cause]]:
    strategy = strategy_for(resource)
    old = copy.deepcopy(old)
    old["metadata"]["uid"] = "u1"  # the server's, before prepare (a Job's selector uses it)
    strategy.default(old)
    strategy.prepare_create(old)
    old["metadata"].update(creationTimestamp="2024-01-01T00:00:00Z", resourceVersion="5")
    new = copy.deepcopy(old)
    change(new)
    strategy.default(new)
    strategy.prepare_update(new, old, subresource)
    return new, strategy.validate_update(new, old)


@pytest.mark.parametrize(("resource", "change", "path"), [
    pytest.param(D, set_path("spec.selector", {"matchLabels": {"app": "web", "x": "y"}}),
                 "spec.selector", id="deployment-selector"),
    pytest.param(resources.REPLICASETS, set_path("spec.selector", {"matchLabels": {"x": "y"}}),
                 "spec.selector", id="replicaset-selector"),
    pytest.param(S, set_path("spec.clusterIP", "10.96.0.20"), "spec.clusterIPs[0]",
                 id="service-cluster-ip"),
    pytest.param(P, set_path("spec.containers.0.name", "renamed"), "spec", id="pod-spec"),
    pytest.param(P, set_path("metadata.name", "other"), "metadata.name", id="name"),
    pytest.param(resources.SECRETS, set_path("type", "x/y"), "type", id="secret-type"),
    pytest.param(N, set_path("spec.podCIDR", "10.244.9.0/24"), "spec.podCIDR", id="node-cidr"),
    pytest.param(DS, set_path("spec.selector", {"matchLabels": {"x": "y"}}), "spec.selector",
                 id="daemonset-selector"),
    pytest.param(STS, set_path("spec.serviceName", "other"), "spec", id="statefulset-spec"),
    pytest.param(resources.CONTROLLERREVISIONS, set_path("data", {"x": 1}), "data",
                 id="controllerrevision-data"),
    pytest.param(J, set_path("spec.template.spec.containers.0.image", "x:2"), "spec.template",
                 id="job-template"),
    pytest.param(J, set_path("spec.completions", 9), "spec.completions", id="job-completions"),
    pytest.param(J, set_path("spec.completionMode", "Indexed"), "spec.completionMode",
                 id="job-completion-mode"),
])
def test_immutable_fields(resource: Resource, change: Callable[[Obj], None], path: str) -> None:
    old = copy.deepcopy(VALID[resource])
    if resource is S:
        old["spec"]["clusterIP"] = "10.96.0.10"
    _, causes = _updated(resource, old, change)
    assert path in [c.field for c in causes], causes


def test_pod_update_allows_image_and_added_tolerations() -> None:
    def change(pod: Obj) -> None:
        pod["spec"]["containers"][0]["image"] = "busybox:1.37"
        pod["spec"]["tolerations"].append({"key": "x", "operator": "Exists"})
        pod["metadata"]["labels"] = {"new": "label"}
    new, causes = _updated(P, VALID[P], change)
    assert causes == []
    assert new["metadata"]["generation"] == 2


def test_immutable_configmap_data() -> None:
    old = copy.deepcopy(VALID[resources.CONFIGMAPS])
    old["immutable"] = True
    _, causes = _updated(resources.CONFIGMAPS, old, lambda cm: cm.update(data={"k": "v"}))
    assert [c.field for c in causes] == ["data"]


def test_status_write_keeps_spec_and_checks_status() -> None:
    def change(pod: Obj) -> None:
        pod["spec"]["containers"][0]["image"] = "ignored"
        pod["status"] = {"phase": "Sleeping"}
    new, causes = _updated(P, VALID[P], change, "status")
    assert new["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert [(c.field, c.reason) for c in causes] == [("status.phase", "FieldValueNotSupported")]


def test_normal_write_keeps_status() -> None:
    new, causes = _updated(D, VALID[D], lambda d: d.update(status={"replicas": 9}))
    assert causes == [] and new["status"] == {}
    assert new["metadata"]["generation"] == 1


def test_job_gets_a_generated_selector_and_labels() -> None:
    strategy = strategy_for(resources.JOBS)
    job = copy.deepcopy(VALID[resources.JOBS])
    job["metadata"]["uid"] = "u-1"
    strategy.default(job)
    strategy.prepare_create(job)
    assert strategy.validate_create(job) == []
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": "u-1", "controller-uid": "u-1",
        "batch.kubernetes.io/job-name": "pi", "job-name": "pi"}
    assert {k: job["spec"][k] for k in ("parallelism", "completions", "backoffLimit",
                                        "completionMode", "suspend", "podReplacementPolicy")} \
        == {"parallelism": 1, "completions": 3, "backoffLimit": 6, "completionMode": "NonIndexed",
            "suspend": False, "podReplacementPolicy": "TerminatingOrFailed"}


def test_job_update_may_suspend_and_elastic_indexed_may_scale() -> None:
    _, causes = _updated(J, VALID[J], set_path("spec.suspend", True))
    assert causes == []
    indexed = copy.deepcopy(VALID[J])
    indexed["spec"].update(completionMode="Indexed", completions=3, parallelism=3)

    def scale(obj: Obj) -> None:
        obj["spec"].update(completions=5, parallelism=5)

    _, causes = _updated(J, indexed, scale)
    assert causes == []


def test_cronjob_keeps_a_stored_tz_prefix_on_update() -> None:
    old = copy.deepcopy(VALID[C])
    del old["spec"]["timeZone"]
    old["spec"]["schedule"] = "CRON_TZ=Europe/Paris 0 * * * *"
    _, causes = _updated(C, old, set_path("spec.suspend", True))
    assert causes == []


def test_statefulset_may_change_replicas_template_and_strategy() -> None:
    def change(obj: Obj) -> None:
        obj["spec"].update(replicas=5, updateStrategy={"type": "OnDelete"}, minReadySeconds=3)
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:2"

    _, causes = _updated(STS, VALID[STS], change)
    assert causes == []


def test_replicationcontroller_selector_and_labels_default_from_the_template() -> None:
    strategy = strategy_for(RC)
    rc = copy.deepcopy(VALID[RC])
    strategy.default(rc)
    assert rc["spec"]["selector"] == {"app": "web"} and rc["metadata"]["labels"] == {"app": "web"}
    _, causes = _updated(RC, VALID[RC], set_path("spec.selector", {"app": "web"}))
    assert causes == []  # unlike a ReplicaSet's, it may change
