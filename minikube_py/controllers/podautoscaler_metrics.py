"""What an HPA measures: each pod's resource usage from metrics.k8s.io, reached through
the api-server's aggregation as kube-controller-manager's resource metrics client does,
and each pod's requests from its spec (the denominator of a utilization)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from minikube_py.api import meta
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.controllers.podautoscaler_replicas import ReplicaError, Sample

POD_METRICS = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"


def milli(quantity: Any) -> int:
    """A quantity in thousandths (CPU in millicores; memory in milli-bytes, as
    Kubernetes' MilliValue, so both fit the same arithmetic)."""
    return int(parse_quantity(str(quantity)) * 1000)


def _window(text: Any) -> timedelta:
    try:
        return timedelta(seconds=float(str(text).rstrip("s")))
    except ValueError:
        return timedelta(0)


def pod_samples(pod_metrics: Mapping[str, Any], resource: str, container: str | None
                ) -> dict[str, Sample]:
    """Per pod: the sum over its containers (or the one named) of `resource`; a pod
    missing the resource in a counted container has no sample (as Kubernetes drops it)."""
    found: dict[str, Sample] = {}
    for item in dicts(pod_metrics.get("items")):
        containers = [c for c in dicts(item.get("containers"))
                      if container is None or c.get("name") == container]
        usages = [as_dict(c.get("usage")).get(resource) for c in containers]
        if not usages or any(u is None for u in usages):
            continue
        name = str(as_dict(item.get("metadata")).get("name"))
        found[name] = Sample(sum(milli(u) for u in usages),
                             meta.parse_time(str(item.get("timestamp"))),
                             _window(item.get("window")))
    return found


async def resource_samples(client: ApiClient, namespace: str, selector: str, resource: str,
                           container: str | None) -> dict[str, Sample]:
    """The samples of the selected pods; ReplicaError when the metrics API has none."""
    try:
        listed = await client.request("GET", POD_METRICS.format(namespace=namespace),
                                      params={"labelSelector": selector})
    except ClientError as e:
        raise ReplicaError("FailedGetResourceMetric",
                           f"unable to get metrics for resource {resource}: {e}") from None
    samples = pod_samples(as_dict(listed), resource, container)
    if not samples:
        raise ReplicaError("FailedGetResourceMetric", f"unable to get metrics for resource "
                           f"{resource}: no metrics returned from resource metrics API")
    return samples


def pod_requests(pods: list[Object], resource: str, container: str | None) -> dict[str, int]:
    """Per pod its request of `resource`; ReplicaError for a counted container without one
    (calculateRequests)."""
    found: dict[str, int] = {}
    for pod in pods:
        name = str(as_dict(pod.get("metadata")).get("name"))
        total = 0
        for c in dicts(as_dict(pod.get("spec")).get("containers")):
            if container is not None and c.get("name") != container:
                continue
            request = as_dict(as_dict(c.get("resources")).get("requests")).get(resource)
            if request is None:
                raise ReplicaError("FailedGetResourceMetric", f"missing request for "
                                   f"{resource} in container {c.get('name')} of Pod {name}")
            total += milli(request)
        found[name] = total
    return found
