"""The HPA controller's sync on a fake api-server (our ApiClient seam): the scale it
writes through the target's scale subresource, the status and conditions it reports
with Kubernetes' reasons, its Events, the downscale stabilization window, and what it
does when the target or the metrics are missing."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from minikube_py.api.resources import DEPLOYMENTS, HORIZONTALPODAUTOSCALERS, PODS, Resource
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.controllers.horizontalpodautoscaler import HorizontalPodAutoscalerController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient, Write, api_error
from tests.fixtures.queues import RecordingQueue

JsonDict = dict[str, Any]
NOW = "2026-01-01T01:00:00Z"  # samples' time: pods started and became Ready at T0


class ScaleClient(FakeClient):
    """A FakeClient that also serves the Deployment's scale subresource and the
    metrics.k8s.io PodMetrics list (`usage`: millicores per pod)."""

    def __init__(self, replicas: int, usage: dict[str, int]) -> None:
        super().__init__()
        self.replicas, self.usage = replicas, usage

    async def get(self, resource: Resource, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> JsonDict:
        if subresource != "scale":
            return await super().get(resource, name, namespace)
        if resource != DEPLOYMENTS or name != "web":
            raise api_error(NotFound, resource, name)
        return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {
            "name": name, "namespace": namespace, "resourceVersion": "7"},
            "spec": {"replicas": self.replicas},
            "status": {"replicas": self.replicas, "selector": "app=web"}}

    async def update(self, resource: Resource, obj: JsonDict, *,
                     subresource: str | None = None) -> JsonDict:
        if subresource != "scale":
            return await super().update(resource, obj, subresource=subresource)
        self.replicas = obj["spec"]["replicas"]
        self.writes.append(Write("update", f"{resource.plural}/scale", "default", "web",
                                 copy.deepcopy(obj)))
        return obj

    async def request(self, method: str, path: str, **kwargs: Any) -> JsonDict:
        assert (method, path) == ("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods")
        assert kwargs["params"] == {"labelSelector": "app=web"}
        return {"kind": "PodMetricsList", "items": [
            {"metadata": {"name": name, "namespace": "default"}, "timestamp": NOW,
             "window": "15s", "containers": [{"name": "c", "usage": {"cpu": f"{m}m"}}]}
            for name, m in self.usage.items()]}


def hpa(**spec: Any) -> JsonDict:
    obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "web", "namespace": "default", "generation": 1,
                        "uid": "u-1"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "web"},
                    "minReplicas": 1, "maxReplicas": 10, "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "target": {
                            "type": "Utilization", "averageUtilization": 50}}}], **spec}}
    return obj


def pods(n: int, cpu: str | None = "100m") -> list[JsonDict]:
    return [builders.pod(f"web-{i}", cpu=cpu, ready=True, labels={"app": "web"},
                         status={"startTime": builders.T0}) for i in range(n)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Hpa(HorizontalPodAutoscalerController):
    queue: RecordingQueue


def controller(client: ScaleClient, obj: JsonDict, pod_list: list[JsonDict]
               ) -> tuple[Hpa, Clock]:
    clock = Clock()
    c = Hpa(cast(ApiClient, client), ControllerManagerSettings(), clock=clock)
    c.queue = RecordingQueue(c.name)
    fill(c.hpas, obj)
    fill(c.pods, *pod_list)
    client.put(HORIZONTALPODAUTOSCALERS, obj)
    return c, clock


def status(client: FakeClient) -> JsonDict:
    writes = [w for w in client.writes if w.resource == "horizontalpodautoscalers/status"]
    assert writes, client.summary()
    body: JsonDict = writes[-1].body["status"]
    return body


def conditions(client: FakeClient) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status(client)["conditions"]}


async def test_scales_up_through_the_scale_subresource() -> None:
    """3 pods at 90m of 100m against 50%: ceil(3 * 180/100) = 6, within the scale-up
    limit of max(2 * 3, 4); then synced again in 15 s."""
    client = ScaleClient(3, {"web-0": 90, "web-1": 90, "web-2": 90})
    c, _ = controller(client, hpa(), pods(3))
    await c.sync("default/web")
    assert client.replicas == 6
    assert ("update", "deployments/scale", "web") in client.summary()
    got = status(client)
    assert (got["currentReplicas"], got["desiredReplicas"]) == (6, 6)
    assert got["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 90, "averageValue": "90m"}}}]
    assert got["observedGeneration"] == 1 and got["lastScaleTime"]
    assert conditions(client) == {"AbleToScale": ("True", "SucceededRescale"),
                                  "ScalingActive": ("True", "ValidMetricFound"),
                                  "ScalingLimited": ("False", "DesiredWithinRange")}
    assert client.events() == [("Normal", "SuccessfulRescale", ("New size: 6; reason: cpu "
                                "resource utilization (percentage of request) above target"))]
    assert c.queue.delayed == [("default/web", 15.0)]
    assert c.scale_events == {}  # kept for behavior's policies only


async def test_scale_up_is_limited_to_max_replicas() -> None:
    client = ScaleClient(2, {"web-0": 500, "web-1": 500})
    c, _ = controller(client, hpa(maxReplicas=3), pods(2))
    await c.sync("default/web")
    assert client.replicas == 3
    assert conditions(client)["ScalingLimited"] == ("True", "TooManyReplicas")


async def test_within_tolerance_nothing_changes() -> None:
    client = ScaleClient(3, {"web-0": 54, "web-1": 54, "web-2": 54})  # 54% of 50%: 1.08
    c, _ = controller(client, hpa(), pods(3))
    await c.sync("default/web")
    assert client.replicas == 3 and client.events() == []
    assert status(client)["desiredReplicas"] == 3
    assert conditions(client)["AbleToScale"] == ("True", "ReadyForNewScale")


async def test_scale_down_waits_for_the_stabilization_window() -> None:
    """Without `behavior`: the highest recommendation of the last 300 s holds (the
    current count is the first one), then the count drops at once."""
    client = ScaleClient(4, dict.fromkeys(("web-0", "web-1", "web-2", "web-3"), 10))
    c, clock = controller(client, hpa(), pods(4))
    await c.sync("default/web")
    assert client.replicas == 4
    assert conditions(client)["AbleToScale"] == ("True", "ScaleDownStabilized")
    clock.now += 301
    await c.sync("default/web")
    assert client.replicas == 1  # ceil(4 * 10/50) = 1
    assert client.events()[-1] == ("Normal", "SuccessfulRescale",
                                   "New size: 1; reason: All metrics below target")


async def test_behavior_policies_limit_the_step() -> None:
    client = ScaleClient(2, {"web-0": 500, "web-1": 500})
    c, clock = controller(client, hpa(behavior={"scaleUp": {"policies": [
        {"type": "Pods", "value": 1, "periodSeconds": 60}]}}), pods(2))
    await c.sync("default/web")
    assert client.replicas == 3
    assert conditions(client)["ScalingLimited"] == ("True", "ScaleUpLimit")
    assert [e.change for e in c.scale_events["default/web"]] == [1]
    clock.now += 30  # the period's one pod is spent
    await c.sync("default/web")
    assert client.replicas == 3
    clock.now += 31  # the period has passed
    await c.sync("default/web")
    assert client.replicas == 4


async def test_missing_requests_make_scaling_inactive() -> None:
    client = ScaleClient(1, {"web-0": 50})
    c, _ = controller(client, hpa(), pods(1, cpu=None))
    await c.sync("default/web")
    assert client.replicas == 1
    got = status(client)
    active = next(x for x in got["conditions"] if x["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
    assert active["message"] == ("the HPA was unable to compute the replica count: failed to "
                                 "get cpu utilization: missing request for cpu in container "
                                 "c of Pod web-0")
    assert "desiredReplicas" not in got
    assert ("Warning", "FailedComputeMetricsReplicas") in [e[:2] for e in client.events()]


async def test_no_metrics_make_scaling_inactive() -> None:
    client = ScaleClient(2, {})
    c, _ = controller(client, hpa(), pods(2))
    await c.sync("default/web")
    assert conditions(client)["ScalingActive"] == ("False", "FailedGetResourceMetric")


@pytest.mark.parametrize(("ref", "reason"), [
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "name": "gone"},
                 "FailedGetScale", id="no-such-object"),
    pytest.param({"apiVersion": "v1", "kind": "ConfigMap", "name": "web"},
                 "FailedGetScale", id="kind-without-scale"),
])
async def test_a_target_without_scale(ref: JsonDict, reason: str) -> None:
    client = ScaleClient(2, {})
    c, _ = controller(client, hpa(scaleTargetRef=ref), pods(2))
    await c.sync("default/web")
    assert conditions(client) == {"AbleToScale": ("False", reason)}
    assert client.events()[0][:2] == ("Warning", "FailedGetScale")
    assert c.queue.delayed == [("default/web", 15.0)]


async def test_a_target_scaled_to_zero_disables_scaling() -> None:
    client = ScaleClient(0, {})
    c, _ = controller(client, hpa(), [])
    await c.sync("default/web")
    assert conditions(client)["ScalingActive"] == ("False", "ScalingDisabled")
    assert status(client)["desiredReplicas"] == 0 and client.replicas == 0


async def test_replicas_below_min_are_raised_without_metrics() -> None:
    client = ScaleClient(1, {})
    c, _ = controller(client, hpa(minReplicas=3), pods(1))
    await c.sync("default/web")
    assert client.replicas == 3
    assert client.events() == [("Normal", "SuccessfulRescale", ("New size: 3; reason: "
                                "Current number of replicas below Spec.MinReplicas"))]


def test_only_spec_changes_queue_an_hpa_before_its_time() -> None:
    """Status writes (ours) come back as updates: they must not make the HPA sync again
    at once, or it would scale on the same figures twice."""
    c, _ = controller(ScaleClient(1, {}), hpa(), [])
    status_written = hpa()
    status_written["metadata"]["resourceVersion"] = "2"
    status_written["status"] = {"currentReplicas": 1}
    c.hpas.apply("MODIFIED", status_written)
    assert c.queue.added == []
    spec_changed = copy.deepcopy(status_written)
    spec_changed["metadata"].update(resourceVersion="3", generation=2)
    c.hpas.apply("MODIFIED", spec_changed)
    assert c.queue.added == ["default/web"]


async def test_a_deleted_hpa_forgets_its_history() -> None:
    client = ScaleClient(4, dict.fromkeys(("web-0", "web-1", "web-2", "web-3"), 10))
    c, _ = controller(client, hpa(), pods(4))
    await c.sync("default/web")
    assert "default/web" in c.recommendations
    c.hpas.cache.remove("default/web")
    await c.sync("default/web")
    assert "default/web" not in c.recommendations


def test_pods_resource_is_watched() -> None:
    c, _ = controller(ScaleClient(1, {}), hpa(), [])
    assert PODS in c._watched and HORIZONTALPODAUTOSCALERS in c._watched
