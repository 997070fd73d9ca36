"""The resources this cluster serves: one table that the api-server, the
client, discovery and kubectl-facing code all read, so a path is spelled once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A REST resource as Kubernetes names it (group/version/plural)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )
    # Defined by a CustomResourceDefinition (served while it exists, stored under its group).
    custom: bool = False

    @property
    def storage_name(self) -> str:
        """The etcd key segment: built-ins by plural, custom kinds by group/plural (as
        kube-apiserver), so a CRD can never reach a built-in kind's keys."""
        return f"{self.group}/{self.plural}" if self.custom else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def path(
        self,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The URL path; without a namespace a namespaced resource lists across all."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False, ("ns",),
                      subresources=("status", "finalize"),
                      verbs=("create", "delete", "get", "list", "patch", "update", "watch"))
PODS = Resource("", "v1", "Pod", "pods", True, ("po",), ("all",),
                ("status", "binding", "log", "exec", "attach", "portforward", "eviction"))
SERVICES = Resource("", "v1", "Service", "services", True, ("svc",), ("all",), ("status",))
ENDPOINTS = Resource("", "v1", "Endpoints", "endpoints", True, ("ep",))
NODES = Resource("", "v1", "Node", "nodes", False, ("no",),
                 subresources=("status", "proxy"))
SERVICEACCOUNTS = Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",),
                           subresources=("token",))
SECRETS = Resource("", "v1", "Secret", "secrets", True)
PERSISTENTVOLUMES = Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",),
                             subresources=("status",))
PERSISTENTVOLUMECLAIMS = Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims",
                                  True, ("pvc",), subresources=("status",))
STORAGECLASSES = Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", False,
                          ("sc",))
CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",))
EVENTS = Resource("", "v1", "Event", "events", True, ("ev",))
DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",),
                       ("status", "scale"))
REPLICASETS = Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",),
                       ("status", "scale"))
REPLICATIONCONTROLLERS = Resource("", "v1", "ReplicationController", "replicationcontrollers",
                                  True, ("rc",), ("all",), ("status", "scale"))
DAEMONSETS = Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",),
                      ("status",))
STATEFULSETS = Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",),
                        ("status", "scale"))
CONTROLLERREVISIONS = Resource("apps", "v1", "ControllerRevision", "controllerrevisions", True)
JOBS = Resource("batch", "v1", "Job", "jobs", True, (), ("all",), ("status",))
CRONJOBS = Resource("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("all",), ("status",))
PODDISRUPTIONBUDGETS = Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
                                True, ("pdb",), subresources=("status",))
LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases", True)
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True)
INGRESSES = Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",),
                     subresources=("status",))
INGRESSCLASSES = Resource("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False)
NETWORKPOLICIES = Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True,
                           ("netpol",))
RBAC_GROUP = "rbac.authorization.k8s.io"
# Kubernetes gives the RBAC kinds no short names; neither do we.
ROLES = Resource(RBAC_GROUP, "v1", "Role", "roles", True)
CLUSTERROLES = Resource(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", False)
ROLEBINDINGS = Resource(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", True)
CLUSTERROLEBINDINGS = Resource(RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings",
                               False)
CUSTOMRESOURCEDEFINITIONS = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                                     "customresourcedefinitions", False, ("crd", "crds"),
                                     subresources=("status",))
HORIZONTALPODAUTOSCALERS = Resource("autoscaling", "v2", "HorizontalPodAutoscaler",
                                    "horizontalpodautoscalers", True, ("hpa",), ("all",),
                                    ("status",))
APISERVICES = Resource("apiregistration.k8s.io", "v1", "APIService", "apiservices", False,
                       subresources=("status",))
ADMISSION_GROUP = "admissionregistration.k8s.io"
VALIDATINGWEBHOOKCONFIGURATIONS = Resource(ADMISSION_GROUP, "v1",
                                           "ValidatingWebhookConfiguration",
                                           "validatingwebhookconfigurations", False,
                                           categories=("api-extensions",))
MUTATINGWEBHOOKCONFIGURATIONS = Resource(ADMISSION_GROUP, "v1", "MutatingWebhookConfiguration",
                                         "mutatingwebhookconfigurations", False,
                                         categories=("api-extensions",))

ALL: tuple[Resource, ...] = (
    NAMESPACES, PODS, SERVICES, ENDPOINTS, NODES, SERVICEACCOUNTS, SECRETS, CONFIGMAPS,
    EVENTS, DEPLOYMENTS, REPLICASETS, REPLICATIONCONTROLLERS, DAEMONSETS, STATEFULSETS, CONTROLLERREVISIONS,
    JOBS, CRONJOBS, PODDISRUPTIONBUDGETS, LEASES,
    ENDPOINTSLICES, ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS,
    PERSISTENTVOLUMES, PERSISTENTVOLUMECLAIMS, STORAGECLASSES, CUSTOMRESOURCEDEFINITIONS,
    INGRESSES, INGRESSCLASSES, NETWORKPOLICIES,
    APISERVICES, HORIZONTALPODAUTOSCALERS,
    VALIDATINGWEBHOOKCONFIGURATIONS, MUTATINGWEBHOOKCONFIGURATIONS,
)

# Older versions of built-in kinds, served beside ALL's (the stored version: what
# controllers, garbage collection and namespace deletion use) and converted on read.
HORIZONTALPODAUTOSCALERS_V1 = Resource("autoscaling", "v1", "HorizontalPodAutoscaler",
                                       "horizontalpodautoscalers", True, ("hpa",), ("all",),
                                       ("status",))
OLDER_VERSIONS: tuple[Resource, ...] = (HORIZONTALPODAUTOSCALERS_V1,)

_BY_GVR = {(r.group, r.version, r.plural): r for r in ALL + OLDER_VERSIONS}
_BY_KIND = {(r.api_version, r.kind): r for r in ALL + OLDER_VERSIONS}
# Custom kinds this process serves now, kept by the api-server's CRD registry.
_CUSTOM_BY_GVR: dict[tuple[str, str, str], Resource] = {}
_CUSTOM_BY_KIND: dict[tuple[str, str], Resource] = {}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    key = (group, version, plural)
    return _BY_GVR.get(key) or _CUSTOM_BY_GVR.get(key)


def for_kind(api_version: str, kind: str) -> Resource | None:
    key = (api_version, kind)
    return _BY_KIND.get(key) or _CUSTOM_BY_KIND.get(key)


def served() -> tuple[Resource, ...]:
    """Built-in kinds (their older versions after), then the custom kinds defined now."""
    return ALL + OLDER_VERSIONS + tuple(_CUSTOM_BY_GVR.values())


def register_custom(resource: Resource) -> None:
    """Serve a custom kind's version (a built-in one is never shadowed)."""
    key = (resource.group, resource.version, resource.plural)
    if key not in _BY_GVR:
        _CUSTOM_BY_GVR[key] = resource
        _CUSTOM_BY_KIND[(resource.api_version, resource.kind)] = resource


def unregister_custom(resource: Resource) -> None:
    _CUSTOM_BY_GVR.pop((resource.group, resource.version, resource.plural), None)
    if _CUSTOM_BY_KIND.get((resource.api_version, resource.kind)) == resource:
        del _CUSTOM_BY_KIND[(resource.api_version, resource.kind)]
