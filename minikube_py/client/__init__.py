"""Shared client machinery: every component but the api-server talks to the
cluster through these (REST client, informer, work queue, leader election,
event recorder, supervised tasks). docs/interfaces.md describes the interface."""

from minikube_py.client.events import EventRecorder
from minikube_py.client.informer import Informer, strip_managed_fields
from minikube_py.client.kubeconfig import ClientConfig, in_cluster_config, load_kubeconfig
from minikube_py.client.leaderelection import LeaderElectionSettings, LeaderElector, run_elected
from minikube_py.client.rest import ApiClient
from minikube_py.client.tasks import run_tasks
from minikube_py.client.workqueue import ShutDown, WorkQueue

__all__ = [
    "ApiClient", "ClientConfig", "EventRecorder", "Informer", "LeaderElectionSettings",
    "LeaderElector", "ShutDown", "WorkQueue", "in_cluster_config", "load_kubeconfig",
    "run_elected", "run_tasks", "strip_managed_fields",
]
