"""The default RBAC policy, with Kubernetes' names and rules
(plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go): the user-facing roles
(cluster-admin, and admin/edit/view aggregated from the system:aggregate-to-* roles), what
every authenticated user may do (discovery, health, asking about itself), and the roles of
the components that run with their own identities. The controllers' roles are in
bootstrap_controllers.py. Rules naming resources this cluster does not serve yet are
kept: they say what the role means and start working when the kind arrives.
"""

from __future__ import annotations

from minikube_py.api.lease import VIP_LEASE
from minikube_py.api.resources import RBAC_GROUP
from minikube_py.api.types import Object

READ = ("get", "list", "watch")
UI_VIEWER = "minikube-py:ui-viewer"
WRITE = ("create", "delete", "deletecollection", "patch", "update")
RW = (*READ, *WRITE)
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAPPING = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def rule(verbs: tuple[str, ...] | str, groups: tuple[str, ...] | str = "",
         resources: tuple[str, ...] | str = (), names: tuple[str, ...] = ()) -> Object:
    """A PolicyRule (a str for a single value, as rbacv1helpers.NewRule reads)."""
    def many(v: tuple[str, ...] | str) -> list[str]:
        return [v] if isinstance(v, str) else list(v)
    out: Object = {"verbs": many(verbs), "apiGroups": many(groups), "resources": many(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def urls(verbs: tuple[str, ...] | str, *paths: str) -> Object:
    return {"verbs": [verbs] if isinstance(verbs, str) else list(verbs),
            "nonResourceURLs": list(paths)}


def _meta(name: str, labels: dict[str, str] | None = None, namespace: str | None = None
          ) -> Object:
    meta: Object = {"name": name, "labels": {**BOOTSTRAPPING, **(labels or {})},
                 "annotations": {AUTOUPDATE: "true"}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def cluster_role(name: str, rules: list[Object], *, labels: dict[str, str] | None = None,
                 aggregate_from: str | None = None) -> Object:
    role: Object = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole",
                 "metadata": _meta(name, labels), "rules": rules}
    if aggregate_from:
        role["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {AGGREGATE + aggregate_from: "true"}}]}
    return role


def subject(kind: str, name: str) -> Object:
    """`ServiceAccount` names are "namespace:name"."""
    if kind == "ServiceAccount":
        namespace, _, sa = name.partition(":")
        return {"kind": kind, "name": sa, "namespace": namespace}
    return {"kind": kind, "apiGroup": RBAC_GROUP, "name": name}


def cluster_binding(name: str, role: str, *subjects: Object) -> Object:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
            "metadata": _meta(name),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": list(subjects)}


def namespaced_role(name: str, namespace: str, rules: list[Object]) -> Object:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role",
            "metadata": _meta(name, namespace=namespace), "rules": rules}


def binding(name: str, namespace: str, role: str, *subjects: Object) -> Object:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "RoleBinding",
            "metadata": _meta(name, namespace=namespace),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role},
            "subjects": list(subjects)}


AUTHENTICATED = subject("Group", "system:authenticated")
UNAUTHENTICATED = subject("Group", "system:unauthenticated")

_VIEW = [
    rule(READ, "", ("configmaps", "endpoints", "persistentvolumeclaims",
                    "persistentvolumeclaims/status", "pods", "replicationcontrollers",
                    "replicationcontrollers/scale", "serviceaccounts", "services",
                    "services/status")),
    rule(READ, "", ("bindings", "events", "limitranges", "namespaces/status", "pods/log",
                    "pods/status", "replicationcontrollers/status", "resourcequotas",
                    "resourcequotas/status")),
    rule(READ, "", "namespaces"),
    rule(READ, "discovery.k8s.io", "endpointslices"),
    rule(READ, "apps", ("controllerrevisions", "daemonsets", "daemonsets/status",
                        "deployments", "deployments/scale", "deployments/status",
                        "replicasets", "replicasets/scale", "replicasets/status",
                        "statefulsets", "statefulsets/scale", "statefulsets/status")),
    rule(READ, "autoscaling", ("horizontalpodautoscalers", "horizontalpodautoscalers/status")),
    rule(READ, "batch", ("cronjobs", "cronjobs/status", "jobs", "jobs/status")),
    rule(READ, "policy", ("poddisruptionbudgets", "poddisruptionbudgets/status")),
    rule(READ, "networking.k8s.io", ("ingresses", "ingresses/status", "networkpolicies")),
]
_EDIT = [
    rule("impersonate", "", "serviceaccounts"),
    rule(WRITE, "", ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy")),
    rule("create", "", "pods/eviction"),
    rule(WRITE, "", ("configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                     "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                     "services/proxy")),
    rule("create", "", "serviceaccounts/token"),
    rule(WRITE, "apps", ("daemonsets", "deployments", "deployments/rollback",
                         "deployments/scale", "replicasets", "replicasets/scale",
                         "statefulsets", "statefulsets/scale")),
    rule(WRITE, "autoscaling", "horizontalpodautoscalers"),
    rule(WRITE, "batch", ("cronjobs", "jobs")),
    rule(WRITE, "policy", "poddisruptionbudgets"),
    rule(WRITE, "networking.k8s.io", ("ingresses", "networkpolicies")),
    rule(RW, "coordination.k8s.io", "leases"),
    rule(READ, "", ("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                    "services/proxy")),
]
_ADMIN = [
    rule("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    rule(RW, RBAC_GROUP, ("rolebindings", "roles")),
]

USER_ROLES: list[Object] = [
    cluster_role("cluster-admin", [rule("*", "*", "*"), urls("*", "*")]),
    cluster_role("system:discovery", [urls("get", "/api", "/api/*", "/apis", "/apis/*",
                                           "/healthz", "/livez", "/openapi", "/openapi/*",
                                           "/readyz", "/version", "/version/")]),
    cluster_role("system:public-info-viewer", [urls("get", "/healthz", "/livez", "/readyz",
                                                    "/version", "/version/")]),
    cluster_role("system:kubelet-api-admin", [
        rule(("get", "list", "watch", "proxy"), "", "nodes"),
        rule("*", "", ("nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"))]),
    cluster_role("system:basic-user", [
        rule("create", "authentication.k8s.io", "selfsubjectreviews"),
        rule("create", "authorization.k8s.io", ("selfsubjectaccessreviews",
                                                "selfsubjectrulesreviews"))]),
    cluster_role("system:service-account-issuer-discovery", [
        urls("get", "/.well-known/openid-configuration", "/openid/v1/jwks")]),
    cluster_role("admin", [], aggregate_from="admin"),
    cluster_role("edit", [], labels={AGGREGATE + "admin": "true"}, aggregate_from="edit"),
    cluster_role("view", [], labels={AGGREGATE + "edit": "true"}, aggregate_from="view"),
    cluster_role("system:aggregate-to-admin", _ADMIN, labels={AGGREGATE + "admin": "true"}),
    cluster_role("system:aggregate-to-edit", _EDIT, labels={AGGREGATE + "edit": "true"}),
    cluster_role("system:aggregate-to-view", _VIEW, labels={AGGREGATE + "view": "true"}),
    # What the web view (`minikube-py ui --open`) reads, and nothing it could write.
    cluster_role(UI_VIEWER, [
        rule(READ, "", ("nodes", "pods", "services", "endpoints", "events", "namespaces")),
        rule("get", "", "pods/log"),
        rule(READ, "metrics.k8s.io", ("nodes", "pods"))]),
]

EVENTS_WRITE = [rule(("create", "patch", "update"), ("", "events.k8s.io"), "events")]


def _leader_rules(lease: str) -> list[Object]:
    return [rule("create", "coordination.k8s.io", "leases"),
            rule(("get", "update"), "coordination.k8s.io", "leases", (lease,))]


COMPONENT_ROLES: list[Object] = [
    cluster_role("system:kube-scheduler", [
        *EVENTS_WRITE, *_leader_rules("kube-scheduler"),
        rule(READ, "", "nodes"),
        rule(("delete", "get", "list", "watch"), "", "pods"),
        rule("create", "", ("bindings", "pods/binding")),
        rule(("patch", "update"), "", "pods/status"),
        rule(READ, "", ("namespaces", "persistentvolumeclaims", "persistentvolumes",
                        "replicationcontrollers", "services")),
        # system:volume-scheduler's: PreBind selects the node on claims.
        rule(("patch", "update"), "", "persistentvolumeclaims"),
        rule(READ, "storage.k8s.io", "storageclasses"),
        rule(READ, "apps", ("replicasets", "statefulsets")),
        rule(READ, "policy", "poddisruptionbudgets"),
        rule("create", "authentication.k8s.io", "tokenreviews"),
        rule("create", "authorization.k8s.io", "subjectaccessreviews"),
    ]),
    cluster_role("system:kube-controller-manager", [
        *EVENTS_WRITE, *_leader_rules("kube-controller-manager"),
        rule(("list", "watch"), "*", "*"),  # its shared informers
        rule("get", "", ("namespaces", "secrets", "serviceaccounts")),
        rule(("create", "patch", "update"), "", ("secrets", "serviceaccounts")),  # tokens
        rule("delete", "", "secrets"),
        rule("create", "", "serviceaccounts/token"),
        rule("create", "authentication.k8s.io", "tokenreviews"),
        rule("create", "authorization.k8s.io", "subjectaccessreviews"),
    ]),
    cluster_role("system:node-proxier", [
        rule(("list", "watch"), "", ("endpoints", "services")),
        rule(READ, "", "nodes"),
        *EVENTS_WRITE,
        rule(("list", "watch"), "discovery.k8s.io", "endpointslices"),
    ]),
    # The cluster DNS server (`minikube-py dns`, service account kube-system/kube-dns): what
    # its informers read. Pod hostnames come from EndpointSlices, so no pods or endpoints.
    # The ingress controller (`minikube-py ingress`, service account
    # kube-system:ingress-controller): its informers, the Ingresses' status, its Events.
    cluster_role("system:ingress-controller", [
        rule(("list", "watch"), "", ("services", "secrets")),
        rule(("list", "watch"), "discovery.k8s.io", "endpointslices"),
        rule(("list", "watch"), "networking.k8s.io", ("ingresses", "ingressclasses")),
        rule("update", "networking.k8s.io", "ingresses/status"),
        *EVENTS_WRITE,
    ]),
    cluster_role("system:kube-dns", [
        rule(("list", "watch"), "", ("namespaces", "services")),
        rule(("list", "watch"), "discovery.k8s.io", "endpointslices"),
    ]),
    # The metrics server (`minikube-py metrics-server`, kube-system:metrics-server), as
    # metrics-server's manifests: its informers and the kubelets' /metrics/resource; it
    # authorizes requests by asking the api-server (system:auth-delegator).
    cluster_role("system:metrics-server", [
        rule(("get", "list", "watch"), "", ("nodes", "pods")),
        rule("get", "", "nodes/metrics"),
    ]),
    cluster_role("system:auth-delegator", [
        rule("create", "authentication.k8s.io", "tokenreviews"),
        rule("create", "authorization.k8s.io", "subjectaccessreviews"),
    ]),
    # `kubectl top` for whoever may view, edit or administer.
    cluster_role("system:aggregated-metrics-reader", [
        rule(READ, "metrics.k8s.io", ("pods", "nodes"))],
        labels={AGGREGATE + "view": "true", AGGREGATE + "edit": "true",
                AGGREGATE + "admin": "true"}),
]

BINDINGS: list[Object] = [
    cluster_binding("cluster-admin", "cluster-admin", subject("Group", "system:masters")),
    cluster_binding("system:discovery", "system:discovery", AUTHENTICATED),
    cluster_binding("system:basic-user", "system:basic-user", AUTHENTICATED),
    cluster_binding("system:public-info-viewer", "system:public-info-viewer", AUTHENTICATED,
                    UNAUTHENTICATED),
    cluster_binding("system:service-account-issuer-discovery",
                    "system:service-account-issuer-discovery",
                    subject("Group", "system:serviceaccounts")),
    cluster_binding("system:kube-scheduler", "system:kube-scheduler",
                    subject("User", "system:kube-scheduler")),
    cluster_binding("system:kube-controller-manager", "system:kube-controller-manager",
                    subject("User", "system:kube-controller-manager")),
    cluster_binding("system:node-proxier", "system:node-proxier",
                    subject("User", "system:kube-proxy")),
    cluster_binding("system:ingress-controller", "system:ingress-controller",
                    subject("ServiceAccount", "kube-system:ingress-controller")),
    # The api-server's client certificate towards kubelets (kubeadm's
    # apiserver-kubelet-client): what kubelets' webhook authorizer asks about.
    cluster_binding("system:kube-apiserver-kubelet-client", "system:kubelet-api-admin",
                    subject("User", "system:kube-apiserver-kubelet-client")),
    cluster_binding("system:kube-dns", "system:kube-dns",
                    subject("ServiceAccount", "kube-system:kube-dns")),
    cluster_binding("system:metrics-server", "system:metrics-server",
                    subject("ServiceAccount", "kube-system:metrics-server")),
    cluster_binding("metrics-server:system:auth-delegator", "system:auth-delegator",
                    subject("ServiceAccount", "kube-system:metrics-server")),
]

# The DNS servers list themselves in the kube-dns Endpoints (and nothing else).
NAMESPACED_ROLES: list[Object] = [
    namespaced_role("system:kube-dns", "kube-system", [
        rule("create", "", "endpoints"),
        rule(("get", "update"), "", "endpoints", ("kube-dns",))]),
    # The HA floating address (`minikube-py vip`): kube-vip's Lease, followed by watch.
    namespaced_role("system:kube-vip", "kube-system", [
        *_leader_rules(VIP_LEASE), rule("watch", "coordination.k8s.io", "leases")]),
    # Aggregated servers read the front-proxy trust the api-server publishes.
    namespaced_role("extension-apiserver-authentication-reader", "kube-system", [
        rule(READ, "", "configmaps", ("extension-apiserver-authentication",))]),
]
NAMESPACED_BINDINGS: list[Object] = [
    binding("system:kube-dns", "kube-system", "system:kube-dns",
            subject("ServiceAccount", "kube-system:kube-dns")),
    binding("system:kube-vip", "kube-system", "system:kube-vip",
            subject("User", "system:kube-vip")),
    binding("metrics-server-auth-reader", "kube-system",
            "extension-apiserver-authentication-reader",
            subject("ServiceAccount", "kube-system:metrics-server")),
]
