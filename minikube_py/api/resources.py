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
                ("status", "binding", "log", "exec", "portforward", "eviction"))
SERVICES = Resource("", "v1", "Service", "services", True, ("svc",), ("all",), ("status",))
ENDPOINTS = Resource("", "v1", "Endpoints", "endpoints", True, ("ep",))
NODES = Resource("", "v1", "Node", "nodes", False, ("no",), subresources=("status",))
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
RBAC_GROUP = "rbac.authorization.k8s.io"
# Kubernetes gives the RBAC kinds no short names; neither do we.
ROLES = Resource(RBAC_GROUP, "v1", "Role", "roles", True)
CLUSTERROLES = Resource(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", False)
ROLEBINDINGS = Resource(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", True)
CLUSTERROLEBINDINGS = Resource(RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings",
                               False)

ALL: tuple[Resource, ...] = (
    NAMESPACES, PODS, SERVICES, ENDPOINTS, NODES, SERVICEACCOUNTS, SECRETS, CONFIGMAPS,
    EVENTS, DEPLOYMENTS, REPLICASETS, REPLICATIONCONTROLLERS, DAEMONSETS, STATEFULSETS, CONTROLLERREVISIONS,
    JOBS, CRONJOBS, PODDISRUPTIONBUDGETS, LEASES,
    ENDPOINTSLICES, ROLES, CLUSTERROLES, ROLEBINDINGS, CLUSTERROLEBINDINGS,
    PERSISTENTVOLUMES, PERSISTENTVOLUMECLAIMS, STORAGECLASSES,
)

_BY_GVR = {(r.group, r.version, r.plural): r for r in ALL}
_BY_KIND = {(r.api_version, r.kind): r for r in ALL}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_GVR.get((group, version, plural))


def for_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))
