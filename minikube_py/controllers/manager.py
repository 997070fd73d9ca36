"""The controller-manager: builds the selected controllers over one set of
shared informers and runs them side by side while holding the leader Lease.

Losing the Lease cancels every controller; winning it again builds them anew
from the API (controllers keep no state they cannot rebuild).
"""

from __future__ import annotations

import importlib
import inspect
import logging

from minikube_py.client import ApiClient, run_elected, run_tasks
from minikube_py.controllers.base import SharedInformers
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
    "job": "minikube_py.controllers.job:JobController",
    "cronjob": "minikube_py.controllers.cronjob:CronJobController",
    "ttl-after-finished":
        "minikube_py.controllers.ttlafterfinished:TTLAfterFinishedController",
    "serviceaccount": "minikube_py.controllers.serviceaccount:ServiceAccountController",
    "serviceaccount-token": "minikube_py.controllers.serviceaccount:TokenController",
    "namespace": "minikube_py.controllers.namespace:NamespaceController",
    "garbagecollector": "minikube_py.controllers.garbagecollector:GarbageCollector",
    "clusterrole-aggregation":
        "minikube_py.controllers.clusterroleaggregation:ClusterRoleAggregationController",
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


def build(client: ApiClient, settings: ControllerManagerSettings) -> dict[str, object]:
    """Instantiate the selected controllers; ours share informers."""
    informers = SharedInformers(client)
    explicit = "*" not in settings.controllers
    built: dict[str, object] = {}
    for name in selected(settings.controllers):
        module_name, _, class_name = CONTROLLERS[name].partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            if explicit:
                raise
            log.warning("controller not available, skipped controller=%s", name)
            continue
        takes_informers = "informers" in inspect.signature(cls).parameters
        built[name] = cls(client, settings, informers) if takes_informers else cls(
            client, settings)
    return built


async def run_controllers(client: ApiClient, settings: ControllerManagerSettings) -> None:
    controllers = build(client, settings)
    log.info("controllers starting controllers=%s", ",".join(controllers))
    await run_tasks({name: c.run() for name, c in controllers.items()})  # type: ignore[attr-defined]


async def run(settings: ControllerManagerSettings) -> None:
    """Run the controllers while holding the Lease (or always, without election)."""
    selected(settings.controllers)  # fail fast on a typo
    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client:
        await run_elected(client, settings.leader_election,
                          lambda: run_controllers(client, settings))
