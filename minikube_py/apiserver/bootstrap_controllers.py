"""One ClusterRole and binding per controller, as Kubernetes' controller_policy.go: with
`--use-service-account-credentials` each controller acts as the service account
kube-system/<name> and holds only system:controller:<name> (a Role in one namespace for
those Kubernetes confines there, as the token cleaner). The roles of controllers this
cluster does not run yet (jobs, daemon sets, ...) are here too, so they arrive with the
rights Kubernetes gives them.
"""

from __future__ import annotations

from minikube_py.api.resources import RBAC_GROUP
from minikube_py.api.types import Object
from minikube_py.apiserver.bootstrap_policy import (
    READ,
    binding,
    cluster_binding,
    cluster_role,
    namespaced_role,
    rule,
    subject,
)

PREFIX = "system:controller:"
_EVENTS = rule(("create", "patch", "update"), ("", "events.k8s.io"), "events")
_POD_OWNER = rule(("create", "delete", "list", "patch", "watch"), "", "pods")


def _owner_of(group: str, resource: str) -> list[Object]:
    """What a workload controller does to its own kind."""
    return [rule((*READ, "update"), group, resource),
            rule("update", group, (f"{resource}/status", f"{resource}/finalizers"))]


CONTROLLER_RULES: dict[str, list[Object]] = {
    "clusterrole-aggregation-controller": [
        rule(("escalate", "get", "list", "patch", "update", "watch"), RBAC_GROUP,
             "clusterroles")],
    "cronjob-controller": [
        *_owner_of("batch", "cronjobs"),
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), "batch", "jobs"),
        rule(("delete", "list"), "", "pods"), _EVENTS],
    # As Kubernetes': any kind's scale subresource ('*/scale'), pods (watched here where
    # Kubernetes lists them) and their metrics through the aggregated metrics.k8s.io.
    "horizontal-pod-autoscaler": [
        rule(READ, "autoscaling", "horizontalpodautoscalers"),
        rule("update", "autoscaling", "horizontalpodautoscalers/status"),
        rule(("get", "update"), "*", "*/scale"),
        rule(("list", "watch"), "", "pods"),
        rule("list", "metrics.k8s.io", "pods"), _EVENTS],
    "daemon-set-controller": [
        rule(READ, "apps", "daemonsets"),
        rule("update", "apps", ("daemonsets/status", "daemonsets/finalizers")),
        rule(READ, "", "nodes"), _POD_OWNER, rule("create", "", "pods/binding"),
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), "apps",
             "controllerrevisions"), _EVENTS],
    "deployment-controller": [
        *_owner_of("apps", "deployments"),
        rule("patch", "apps", "deployments"),  # ours patches its revision annotations
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), "apps",
             "replicasets"),
        rule(("get", "list", "update", "watch"), "", "pods"), _EVENTS],
    "disruption-controller": [
        rule(READ, "apps", ("deployments", "replicasets", "statefulsets")),
        rule(READ, "", "replicationcontrollers"),
        rule(READ, "policy", "poddisruptionbudgets"),
        rule("get", ("apps", ""), ("deployments/scale", "replicasets/scale",
                                   "statefulsets/scale", "replicationcontrollers/scale")),
        rule("update", "policy", "poddisruptionbudgets/status"),
        rule("get", "", "pods"), rule("patch", "", "pods/status"), _EVENTS],
    "endpoint-controller": [
        rule(READ, "", ("pods", "services")),
        rule(("create", "delete", "get", "list", "update"), "", "endpoints"),
        rule("create", "", "endpoints/restricted"), _EVENTS],
    "endpointslice-controller": [
        rule(READ, "", ("nodes", "pods", "services")),
        rule("update", "", "services/finalizers"),
        rule(("create", "delete", "get", "list", "update"), "discovery.k8s.io",
             "endpointslices"), _EVENTS],
    "generic-garbage-collector": [
        rule(("delete", "get", "list", "patch", "update", "watch"), "*", "*"), _EVENTS],
    "job-controller": [
        rule(("get", "list", "patch", "update", "watch"), "batch", "jobs"),
        rule("update", "batch", ("jobs/status", "jobs/finalizers")),
        _POD_OWNER, _EVENTS],
    "namespace-controller": [
        rule(("delete", "get", "list", "watch"), "", "namespaces"),
        rule("update", "", ("namespaces/finalize", "namespaces/status")),
        rule(("delete", "deletecollection", "get", "list"), "*", "*")],
    "node-controller": [
        rule(("delete", "get", "list", "patch", "update"), "", "nodes"),
        rule(("patch", "update"), "", ("nodes/status", "pods/status")),
        rule(("delete", "list"), "", "pods"), _EVENTS],
    "persistent-volume-binder": [
        rule(("create", "delete", "get", "list", "update", "watch"), "", "persistentvolumes"),
        rule("update", "", "persistentvolumes/status"),
        rule(("get", "list", "update", "watch"), "", "persistentvolumeclaims"),
        rule("update", "", "persistentvolumeclaims/status"),
        rule(("list", "watch"), "", "pods"), rule("get", "", "nodes"),
        rule(("list", "watch"), "", "nodes"),  # ours reads nodes for node affinity
        rule(("get", "list", "watch"), "storage.k8s.io", "storageclasses"), _EVENTS],
    "pvc-protection-controller": [
        rule(("get", "list", "update", "watch"), "", "persistentvolumeclaims"),
        rule(("get", "list", "watch"), "", "pods")],
    "pv-protection-controller": [
        rule(("get", "list", "update", "watch"), "", "persistentvolumes")],
    "pod-garbage-collector": [
        rule(("delete", "list", "watch"), "", "pods"), rule(("get", "list"), "", "nodes"),
        rule("patch", "", "pods/status")],
    "replicaset-controller": [
        *_owner_of("apps", "replicasets"), _POD_OWNER, _EVENTS],
    "replication-controller": [
        *_owner_of("", "replicationcontrollers"), _POD_OWNER, _EVENTS],
    "root-ca-cert-publisher": [rule(("create", "update"), "", "configmaps"), _EVENTS],
    "service-account-controller": [rule("create", "", "serviceaccounts"), _EVENTS],
    "service-controller": [rule(READ, "", "services"),
                           rule(("patch", "update"), "", "services/status"), _EVENTS],
    "statefulset-controller": [
        rule(("list", "watch"), "", "pods"),
        rule(("list", "watch"), "apps", "statefulsets"),
        rule("get", "apps", "statefulsets"),
        rule("update", "apps", ("statefulsets/status", "statefulsets/finalizers")),
        rule(("create", "delete", "get", "patch", "update"), "", "pods"),
        rule(("create", "delete", "get", "list", "patch", "update", "watch"), "apps",
             "controllerrevisions"),
        rule(("create", "get"), "", "persistentvolumeclaims"),
        rule(("patch", "update"), "", "persistentvolumeclaims"), _EVENTS],
    "ttl-after-finished-controller": [rule(("delete", "get", "list", "watch"), "batch",
                                           "jobs"), _EVENTS],
}

CONTROLLER_ROLES: list[Object] = [cluster_role(PREFIX + name, rules)
                               for name, rules in CONTROLLER_RULES.items()]
CONTROLLER_BINDINGS: list[Object] = [
    cluster_binding(PREFIX + name, PREFIX + name, subject("ServiceAccount", f"kube-system:{name}"))
    for name in CONTROLLER_RULES]

# Controllers whose rights Kubernetes gives in one namespace only (namespace_policy.go).
NAMESPACED_CONTROLLER_RULES: dict[str, tuple[str, list[Object]]] = {
    "token-cleaner": ("kube-system", [rule(("delete", "get", "list", "watch"), "", "secrets"),
                                      _EVENTS]),
}
NAMESPACED_CONTROLLER_ROLES: list[Object] = [
    namespaced_role(PREFIX + name, namespace, rules)
    for name, (namespace, rules) in NAMESPACED_CONTROLLER_RULES.items()]
NAMESPACED_CONTROLLER_BINDINGS: list[Object] = [
    binding(PREFIX + name, namespace, PREFIX + name,
            subject("ServiceAccount", f"kube-system:{name}"))
    for name, (namespace, _) in NAMESPACED_CONTROLLER_RULES.items()]
