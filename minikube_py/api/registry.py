"""Which Strategy serves which resource: the one place the api-server asks."""

from __future__ import annotations

from collections.abc import Callable

from minikube_py.api import horizontalpodautoscaler_v1, resources
from minikube_py.api.admissionregistration import (
    MutatingWebhookConfigurationStrategy,
    ValidatingWebhookConfigurationStrategy,
)
from minikube_py.api.apiservice import APIServiceStrategy
from minikube_py.api.configmap import ConfigMapStrategy
from minikube_py.api.controllerrevision import ControllerRevisionStrategy
from minikube_py.api.cronjob import CronJobStrategy
from minikube_py.api.customresourcedefinition import CustomResourceDefinitionStrategy
from minikube_py.api.daemonset import DaemonSetStrategy
from minikube_py.api.deployment import DeploymentStrategy
from minikube_py.api.endpoints import EndpointsStrategy
from minikube_py.api.endpointslice import EndpointSliceStrategy
from minikube_py.api.event import EventStrategy
from minikube_py.api.horizontalpodautoscaler import HorizontalPodAutoscalerStrategy
from minikube_py.api.horizontalpodautoscaler_v1 import HorizontalPodAutoscalerV1Strategy
from minikube_py.api.ingress import IngressStrategy
from minikube_py.api.ingressclass import IngressClassStrategy
from minikube_py.api.job import JobStrategy
from minikube_py.api.lease import LeaseStrategy
from minikube_py.api.namespace import NamespaceStrategy
from minikube_py.api.networkpolicy import NetworkPolicyStrategy
from minikube_py.api.node import NodeStrategy
from minikube_py.api.persistentvolume import PersistentVolumeStrategy
from minikube_py.api.persistentvolumeclaim import PersistentVolumeClaimStrategy
from minikube_py.api.pod import PodStrategy
from minikube_py.api.poddisruptionbudget import PodDisruptionBudgetStrategy
from minikube_py.api.rbac import (
    ClusterRoleBindingStrategy,
    ClusterRoleStrategy,
    RoleBindingStrategy,
    RoleStrategy,
)
from minikube_py.api.replicaset import ReplicaSetStrategy
from minikube_py.api.replicationcontroller import ReplicationControllerStrategy
from minikube_py.api.resources import Resource
from minikube_py.api.secret import SecretStrategy
from minikube_py.api.service import ServiceStrategy
from minikube_py.api.serviceaccount import ServiceAccountStrategy
from minikube_py.api.statefulset import StatefulSetStrategy
from minikube_py.api.storageclass import StorageClassStrategy
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

_STRATEGIES: dict[Resource, Strategy] = {
    resources.NAMESPACES: NamespaceStrategy(resources.NAMESPACES),
    resources.PODS: PodStrategy(resources.PODS),
    resources.SERVICES: ServiceStrategy(resources.SERVICES),
    resources.ENDPOINTS: EndpointsStrategy(resources.ENDPOINTS),
    resources.NODES: NodeStrategy(resources.NODES),
    resources.SERVICEACCOUNTS: ServiceAccountStrategy(resources.SERVICEACCOUNTS),
    resources.SECRETS: SecretStrategy(resources.SECRETS),
    resources.CONFIGMAPS: ConfigMapStrategy(resources.CONFIGMAPS),
    resources.EVENTS: EventStrategy(resources.EVENTS),
    resources.DEPLOYMENTS: DeploymentStrategy(resources.DEPLOYMENTS),
    resources.REPLICASETS: ReplicaSetStrategy(resources.REPLICASETS),
    resources.REPLICATIONCONTROLLERS:
        ReplicationControllerStrategy(resources.REPLICATIONCONTROLLERS),
    resources.DAEMONSETS: DaemonSetStrategy(resources.DAEMONSETS),
    resources.STATEFULSETS: StatefulSetStrategy(resources.STATEFULSETS),
    resources.CONTROLLERREVISIONS: ControllerRevisionStrategy(resources.CONTROLLERREVISIONS),
    resources.JOBS: JobStrategy(resources.JOBS),
    resources.CRONJOBS: CronJobStrategy(resources.CRONJOBS),
    resources.PODDISRUPTIONBUDGETS: PodDisruptionBudgetStrategy(resources.PODDISRUPTIONBUDGETS),
    resources.LEASES: LeaseStrategy(resources.LEASES),
    resources.ENDPOINTSLICES: EndpointSliceStrategy(resources.ENDPOINTSLICES),
    resources.ROLES: RoleStrategy(resources.ROLES),
    resources.CLUSTERROLES: ClusterRoleStrategy(resources.CLUSTERROLES),
    resources.ROLEBINDINGS: RoleBindingStrategy(resources.ROLEBINDINGS),
    resources.CLUSTERROLEBINDINGS: ClusterRoleBindingStrategy(resources.CLUSTERROLEBINDINGS),
    resources.CUSTOMRESOURCEDEFINITIONS: CustomResourceDefinitionStrategy(
        resources.CUSTOMRESOURCEDEFINITIONS),
    resources.PERSISTENTVOLUMES: PersistentVolumeStrategy(resources.PERSISTENTVOLUMES),
    resources.PERSISTENTVOLUMECLAIMS:
        PersistentVolumeClaimStrategy(resources.PERSISTENTVOLUMECLAIMS),
    resources.STORAGECLASSES: StorageClassStrategy(resources.STORAGECLASSES),
    resources.INGRESSES: IngressStrategy(resources.INGRESSES),
    resources.INGRESSCLASSES: IngressClassStrategy(resources.INGRESSCLASSES),
    resources.NETWORKPOLICIES: NetworkPolicyStrategy(resources.NETWORKPOLICIES),
    resources.APISERVICES: APIServiceStrategy(resources.APISERVICES),
    resources.HORIZONTALPODAUTOSCALERS:
        HorizontalPodAutoscalerStrategy(resources.HORIZONTALPODAUTOSCALERS),
    resources.HORIZONTALPODAUTOSCALERS_V1:
        HorizontalPodAutoscalerV1Strategy(resources.HORIZONTALPODAUTOSCALERS_V1),
    resources.VALIDATINGWEBHOOKCONFIGURATIONS: ValidatingWebhookConfigurationStrategy(
        resources.VALIDATINGWEBHOOKCONFIGURATIONS),
    resources.MUTATINGWEBHOOKCONFIGURATIONS: MutatingWebhookConfigurationStrategy(
        resources.MUTATINGWEBHOOKCONFIGURATIONS),
}


_CUSTOM: dict[Resource, Strategy] = {}
# Built-in kinds served in several versions: (group, plural) -> convert(obj, apiVersion).
_CONVERSIONS: dict[tuple[str, str], Callable[[Object, str], Object]] = {
    ("autoscaling", "horizontalpodautoscalers"): horizontalpodautoscaler_v1.convert,
}


def converter_for(resource: Resource) -> Callable[[Object, str], Object] | None:
    """How an object of a built-in kind stored through any of its versions is shown
    through another; None for kinds served in one version."""
    return None if resource.custom else _CONVERSIONS.get((resource.group, resource.plural))


def strategy_for(resource: Resource) -> Strategy:
    """The strategy for a served resource (KeyError for anything else)."""
    found = _STRATEGIES.get(resource) or _CUSTOM.get(resource)
    if found is None:
        raise KeyError(resource)
    return found


def register_custom(strategy: Strategy) -> None:
    """Serve a custom kind with its strategy (the CRD registry's call)."""
    resources.register_custom(strategy.resource)
    if resources.lookup(strategy.resource.group, strategy.resource.version,
                        strategy.resource.plural) == strategy.resource:
        _CUSTOM[strategy.resource] = strategy


def unregister_custom(resource: Resource) -> None:
    resources.unregister_custom(resource)
    _CUSTOM.pop(resource, None)
