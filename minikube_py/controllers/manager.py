"""The controller-manager: builds the selected controllers over one set of
shared informers and runs them side by side while holding the leader Lease.

Losing the Lease cancels every controller; winning it again builds them anew
from the API (controllers keep no state they cannot rebuild).

With `use_service_account_credentials` each controller writes as its own service account
(credentials.py): kube-system/<ACCOUNTS[name], else the controller's name>, bound to
system:controller:<account> by the api-server's bootstrap policy.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Protocol

from minikube_py.client import ApiClient, run_elected, run_tasks
from minikube_py.controllers.base import SharedInformers
from minikube_py.controllers.credentials import ServiceAccountClients
from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

# name -> "module:Class"; modules owned by other helpers are imported lazily.
CONTROLLERS: dict[str, str] = {
    "nodelifecycle": "minikube_py.controllers.nodelifecycle:NodeLifecycleController",
    "nodeipam": "minikube_py.controllers.nodeipam:NodeIpamController",
    "endpoints": "minikube_py.controllers.endpoints:EndpointsController",
    "endpointslice": "minikube_py.controllers.endpointslice:EndpointSliceController",
    "replicaset": "minikube_py.controllers.replicaset:ReplicaSetController",
    "deployment": "minikube_py.controllers.deployment:DeploymentController",
    "replicationcontroller":
        "minikube_py.controllers.replicaset:ReplicationControllerController",
    "daemonset": "minikube_py.controllers.daemonset:DaemonSetController",
    "statefulset": "minikube_py.controllers.statefulset:StatefulSetController",
    "job": "minikube_py.controllers.job:JobController",
    "disruption": "minikube_py.controllers.disruption:DisruptionController",
    "cronjob": "minikube_py.controllers.cronjob:CronJobController",
    "ttl-after-finished":
        "minikube_py.controllers.ttlafterfinished:TTLAfterFinishedController",
    "serviceaccount": "minikube_py.controllers.serviceaccount:ServiceAccountController",
    "serviceaccount-token": "minikube_py.controllers.serviceaccount:TokenController",
    "namespace": "minikube_py.controllers.namespace:NamespaceController",
    "garbagecollector": "minikube_py.controllers.garbagecollector:GarbageCollector",
    "root-ca-cert-publisher":
        "minikube_py.controllers.rootcacertpublisher:RootCACertPublisher",
    "persistentvolume-binder":
        "minikube_py.controllers.persistentvolume:PersistentVolumeController",
    "pvc-protection": "minikube_py.controllers.volume_protection:PVCProtectionController",
    "pv-protection": "minikube_py.controllers.volume_protection:PVProtectionController",
    "clusterrole-aggregation":
        "minikube_py.controllers.clusterroleaggregation:ClusterRoleAggregationController",
    "service-lb": "minikube_py.controllers.servicelb:ServiceLBController",
    "tokencleaner": "minikube_py.controllers.tokencleaner:TokenCleaner",
    "horizontalpodautoscaling":
        "minikube_py.controllers.horizontalpodautoscaler:HorizontalPodAutoscalerController",
}


# Kubernetes' service-account names where they differ from the controller's own name;
# None: the controller-manager's identity (the token controller signs with its key).
ACCOUNTS: dict[str, str | None] = {
    "nodelifecycle": "node-controller", "nodeipam": "node-controller",
    "serviceaccount": "service-account-controller", "serviceaccount-token": None,
    "garbagecollector": "generic-garbage-collector", "daemonset": "daemon-set-controller",
    "persistentvolume-binder": "persistent-volume-binder",
    "pvc-protection": "pvc-protection-controller", "pv-protection": "pv-protection-controller",
    "service-lb": "service-controller",
    "horizontalpodautoscaling": "horizontal-pod-autoscaler",
}


def selected(names: tuple[str, ...]) -> list[str]:
    """Resolve --controllers: "*" = all, "-x" removes x; unknown names are errors."""
    chosen: list[str] = []
    for name in names:
        bare = name.lstrip("-")
        if bare != "*" and bare not in CONTROLLERS:
            raise ValueError(f"unknown controller {bare!r}; known: {', '.join(CONTROLLERS)}")
        if name == "*":
            chosen += [n for n in CONTROLLERS if n not in chosen]
        elif name.startswith("-"):
            chosen = [n for n in chosen if n != bare]
        elif name not in chosen:
            chosen.append(name)
    return chosen


class Runnable(Protocol):
    """What the manager needs of a controller: run it until cancelled."""

    async def run(self) -> None: ...


# A controller class: called with (client, settings[, informers]).
ControllerClass = Callable[..., Runnable]


def classes(settings: ControllerManagerSettings) -> dict[str, ControllerClass]:
    """The selected controllers' classes (one a build lacks is skipped under "*")."""
    explicit = "*" not in settings.controllers
    found: dict[str, ControllerClass] = {}
    for name in selected(settings.controllers):
        module_name, _, class_name = CONTROLLERS[name].partition(":")
        try:
            found[name] = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            if explicit:
                raise
            log.warning("controller not available, skipped controller=%s", name)
    return found


def account_of(name: str, cls: ControllerClass) -> str | None:
    return ACCOUNTS[name] if name in ACCOUNTS else str(getattr(cls, "name", name))


def build(client: ApiClient, settings: ControllerManagerSettings,
          clients: dict[str, ApiClient] | None = None) -> dict[str, Runnable]:
    """Instantiate the selected controllers over shared informers (read with `client`);
    `clients` gives a controller its own client to act with."""
    informers = SharedInformers(client)
    built: dict[str, Runnable] = {}
    for name, cls in classes(settings).items():
        own = (clients or {}).get(name, client)
        takes_informers = "informers" in inspect.signature(cls).parameters
        built[name] = cls(own, settings, informers) if takes_informers else cls(own, settings)
    return built


async def run_controllers(client: ApiClient, settings: ControllerManagerSettings) -> None:
    if not settings.use_service_account_credentials:
        controllers = build(client, settings)
        log.info("controllers starting controllers=%s", ",".join(controllers))
        await run_tasks({name: c.run() for name, c in controllers.items()})
        return
    accounts = ServiceAccountClients(client)
    try:
        clients = {name: await accounts.client_for(account)
                   for name, cls in classes(settings).items()
                   if (account := account_of(name, cls)) is not None}
        controllers = build(client, settings, clients)
        log.info("controllers starting controllers=%s service_accounts=%s",
                 ",".join(controllers), ",".join(sorted(accounts.clients)))
        await run_tasks({"service-account-tokens": accounts.run(),
                         **{name: c.run() for name, c in controllers.items()}})
    finally:
        await accounts.close()


async def run(settings: ControllerManagerSettings) -> None:
    """Run the controllers while holding the Lease (or always, without election)."""
    selected(settings.controllers)  # fail fast on a typo
    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client:
        await run_elected(client, settings.leader_election,
                          lambda: run_controllers(client, settings))
