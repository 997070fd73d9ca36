"""The HorizontalPodAutoscaler controller (kube-controller-manager's podautoscaler).

Every sync period (15 s) per HPA: read the scale subresource of whatever kind the HPA
names, the pods its selector picks and their usage (podautoscaler_metrics), compute a
count per metric (podautoscaler_replicas), take the largest, stabilize and limit it
(podautoscaler_behavior), write the scale, and report status: currentReplicas,
desiredReplicas, currentMetrics and the AbleToScale / ScalingActive / ScalingLimited
conditions with Kubernetes' reasons and messages, plus its Events (SuccessfulRescale,
FailedGetScale, FailedGetResourceMetric ...). Status writes of our own do not queue the
HPA again (Kubernetes rate-limits each HPA to one sync per period): only new HPAs and
spec changes are looked at before their time. Recommendations and scale events live in
memory, as Kubernetes keeps them; a restart starts from the current count.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from minikube_py.api import horizontalpodautoscaler as hpa_api
from minikube_py.api import meta, resources
from minikube_py.api.errors import StatusError
from minikube_py.api.resources import HORIZONTALPODAUTOSCALERS, PODS
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.controllers.base import Controller, SharedInformers, by_namespace
from minikube_py.controllers.podautoscaler_behavior import (
    Decision,
    Event,
    limit,
    limit_by_rules,
    stabilize,
    stabilize_down,
)
from minikube_py.controllers.podautoscaler_metrics import (
    milli,
    pod_requests,
    resource_samples,
)
from minikube_py.controllers.podautoscaler_replicas import (
    ReplicaError,
    average_replicas,
    group,
    utilization_replicas,
)
from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

_SOURCE_KEYS = {"Resource": "resource", "ContainerResource": "containerResource"}
_UP_STABILIZED = ("ScaleUpStabilized", ("recent recommendations were lower than current one, "
                   "applying the lowest recent recommendation"))
_DOWN_STABILIZED = ("ScaleDownStabilized", ("recent recommendations were higher than current "
                    "one, applying the highest recent recommendation"))


def _condition(status: Object, type_: str, ok: bool, reason: str, message: str) -> None:
    meta.set_condition(status, {"type": type_, "status": "True" if ok else "False",
                                "reason": reason, "message": message})


def _quantity(value: int) -> str:
    """Thousandths as a quantity ("250m", "128974848")."""
    return str(value // 1000) if value % 1000 == 0 else f"{value}m"


def _generation_changed(old: Object, new: Object) -> bool:
    return bool(as_dict(old.get("metadata")).get("generation")
                != as_dict(new.get("metadata")).get("generation"))


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(client, settings, informers)
        self.hpas = self.watch(HORIZONTALPODAUTOSCALERS)
        self.hpas.add_handlers(
            self.enqueue,
            lambda old, new: self.enqueue(new) if _generation_changed(old, new) else None,
            self.enqueue)
        self.pods = by_namespace(self.watch(PODS))
        self.clock = clock
        self.recommendations: dict[Hashable, list[tuple[float, int]]] = {}
        self.scale_events: dict[Hashable, list[Event]] = {}

    async def sync(self, key: Hashable) -> None:
        hpa = self.hpas.get(str(key))
        if hpa is None:
            self.recommendations.pop(key, None)
            self.scale_events.pop(key, None)
            return
        try:
            await self.reconcile(key, hpa)
        finally:
            self.queue.add_after(key, self.settings.hpa_sync_period)

    async def reconcile(self, key: Hashable, hpa: Object) -> None:
        spec = as_dict(hpa.get("spec"))
        status: Object = copy.deepcopy(as_dict(hpa.get("status")))
        status["observedGeneration"] = hpa["metadata"].get("generation")
        try:
            target, scale = await self._scale(hpa)
        except ClientError as e:
            _condition(status, "AbleToScale", False, "FailedGetScale",
                       f"the HPA controller was unable to get the target's current scale: {e}")
            await self.recorder.event(hpa, "Warning", "FailedGetScale", str(e))
            await self._write_status(hpa, status)
            return
        _condition(status, "AbleToScale", True, "SucceededGetScale",
                   "the HPA controller was able to get the target's current scale")
        current = int(as_dict(scale.get("spec")).get("replicas") or 0)
        status["currentReplicas"] = current
        self.recommendations.setdefault(key, [(self.clock(), current)])
        minimum, maximum = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
        if current == 0 and minimum != 0:
            _condition(status, "ScalingActive", False, "ScalingDisabled",
                       "scaling is disabled since the replica count of the target is zero")
            status.pop("currentMetrics", None)
            status["desiredReplicas"] = 0
            await self._write_status(hpa, status)
            return
        if current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            proposal = await self._proposal(hpa, scale, current, status)
            if proposal is None:
                await self._write_status(hpa, status)
                return
            desired = self._normalize(key, hpa, current, proposal[0], minimum, maximum,
                                      status)
            reason = proposal[1]
        if desired != current and not await self._rescale(key, hpa, target, scale, desired,
                                                          reason, status):
            await self._write_status(hpa, status)
            return
        status["desiredReplicas"] = desired
        await self._write_status(hpa, status)

    async def _scale(self, hpa: Object) -> tuple[resources.Resource, Object]:
        ref = as_dict(as_dict(hpa.get("spec")).get("scaleTargetRef"))
        api_version = str(ref.get("apiVersion") or "")
        target = resources.for_kind(api_version, str(ref.get("kind")))
        if target is None or "scale" not in target.subresources:
            raise ClientError(f'no matches for kind "{ref.get("kind")}" in group '
                              f'"{api_version.rpartition("/")[0]}"')
        scale = await self.client.get(target, str(ref.get("name")),
                                      str(hpa["metadata"]["namespace"]), subresource="scale")
        return target, scale

    async def _rescale(self, key: Hashable, hpa: Object, target: resources.Resource,
                       scale: Object, desired: int, reason: str, status: Object) -> bool:
        current = int(scale["spec"].get("replicas") or 0)
        try:
            await self.client.update(target, {**scale, "spec": {**scale["spec"],
                                                                "replicas": desired}},
                                     subresource="scale")
        except ClientError as e:
            _condition(status, "AbleToScale", False, "FailedUpdateScale",
                       f"the HPA controller was unable to update the target scale: {e}")
            await self.recorder.event(hpa, "Warning", "FailedRescale",
                                      f"New size: {desired}; reason: {reason}; error: {e}")
            return False
        _condition(status, "AbleToScale", True, "SucceededRescale",
                   f"the HPA controller was able to update the target scale to {desired}")
        if as_dict(hpa.get("spec")).get("behavior") is not None:  # only policies read them
            self.scale_events.setdefault(key, []).append(Event(self.clock(),
                                                               desired - current))
        status["currentReplicas"] = desired
        status["lastScaleTime"] = meta.now_rfc3339()
        await self.recorder.event(hpa, "Normal", "SuccessfulRescale",
                                  f"New size: {desired}; reason: {reason}")
        log.info("hpa rescaled hpa=%s from=%d to=%d reason=%s", key, current, desired, reason)
        return True

    def _normalize(self, key: Hashable, hpa: Object, current: int, desired: int,
                   minimum: int, maximum: int, status: Object) -> int:
        """Stabilized and limited (normalizeDesiredReplicas[WithBehaviors])."""
        now = self.clock()
        history = self.recommendations.setdefault(key, [])
        decision: Decision
        if as_dict(hpa.get("spec")).get("behavior") is None:
            kept = self.settings.hpa_downscale_stabilization
            stabilized = stabilize_down(history, now, desired, kept)
            decision = limit_by_rules(stabilized, current, minimum, maximum)
        else:
            up, down = hpa_api.rules(hpa, "scaleUp"), hpa_api.rules(hpa, "scaleDown")
            windows = (float(up.get("stabilizationWindowSeconds") or 0),
                       float(down.get("stabilizationWindowSeconds") or 0))
            kept = max(windows)
            stabilized = stabilize(history, now, current, desired, *windows)
            events = self.scale_events.setdefault(key, [])
            events[:] = [e for e in events if e.timestamp > now - hpa_api.MAX_PERIOD_SECONDS]
            decision = limit(stabilized, current, minimum, maximum,
                             ups=[e for e in events if e.change > 0],
                             downs=[Event(e.timestamp, -e.change) for e in events
                                    if e.change < 0],
                             up_rules=up, down_rules=down, now=now)
        history.append((now, desired))
        history[:] = [r for r in history if r[0] >= now - kept]
        if stabilized == desired:
            _condition(status, "AbleToScale", True, "ReadyForNewScale",
                       "recommended size matches current size")
        else:
            _condition(status, "AbleToScale", True,
                       *(_UP_STABILIZED if stabilized < desired else _DOWN_STABILIZED))
        _condition(status, "ScalingLimited", decision.replicas != stabilized, decision.reason,
                   decision.message)
        return decision.replicas

    async def _proposal(self, hpa: Object, scale: Object, current: int, status: Object
                        ) -> tuple[int, str] | None:
        """The largest count any metric asks for and why (computeReplicasForMetrics);
        None when no metric could say, or one failed and the others would scale down."""
        selector = str(as_dict(scale.get("status")).get("selector") or "")
        try:
            if not selector:
                raise ReplicaError("InvalidSelector",
                                   "the HPA target's scale is missing a selector")
            parsed = LabelSelector.parse(selector)
        except (StatusError, ReplicaError) as e:
            message = e.message
            _condition(status, "ScalingActive", False, "InvalidSelector", message)
            await self.recorder.event(hpa, "Warning", "InvalidSelector", message)
            return None
        namespace = str(hpa["metadata"]["namespace"])
        pods = [p for p in self.pods.by_index("namespace", namespace)
                if parsed.matches(as_dict(as_dict(p.get("metadata")).get("labels")))]
        best: tuple[int, str] | None = None
        statuses: list[Object] = []
        failure: ReplicaError | None = None
        for metric in dicts(as_dict(hpa.get("spec")).get("metrics")):
            try:
                replicas, name, metric_status = await self._one(metric, pods, namespace,
                                                                selector, current)
            except ReplicaError as e:
                await self.recorder.event(hpa, "Warning", e.reason, e.message)
                failure = failure or e
                statuses.append({"type": ""})  # Kubernetes keeps the failed one's place
                continue
            statuses.append(metric_status)
            if best is None or replicas > best[0]:
                best = (replicas, name)
        status["currentMetrics"] = statuses
        if failure is not None and (best is None or best[0] < current):
            message = f"the HPA was unable to compute the replica count: {failure.message}"
            _condition(status, "ScalingActive", False, failure.reason, message)
            invalid = statuses.count({"type": ""})
            await self.recorder.event(hpa, "Warning", "FailedComputeMetricsReplicas",
                                      f"invalid metrics ({invalid} invalid out of "
                                      f"{len(statuses)}), first error is: {failure.message}")
            return None
        if best is None:  # no metrics at all: validation and defaults make this unlikely
            return None
        _condition(status, "ScalingActive", True, "ValidMetricFound",
                   f"the HPA was able to successfully calculate a replica count from {best[1]}")
        reason = f"{best[1]} above target" if best[0] > current else "All metrics below target"
        return best[0], reason

    async def _one(self, metric: Object, pods: list[Object], namespace: str, selector: str,
                   current: int) -> tuple[int, str, Object]:
        """(replicas, metric name, MetricStatus) for one Resource/ContainerResource metric."""
        kind = str(metric.get("type"))
        key = _SOURCE_KEYS.get(kind)
        if key is None:
            raise ReplicaError("FailedGetPodsMetric" if kind == "Pods" else
                               f"FailedGet{kind}Metric", f"unable to get metric of type "
                               f"{kind}: no custom metrics API is served in this cluster")
        source = as_dict(metric.get(key))
        resource, container = str(source.get("name")), source.get("container")
        container = str(container) if container else None
        target = as_dict(source.get("target"))
        utilization = target.get("type") == "Utilization"
        try:
            if not pods:
                raise ReplicaError("FailedGetResourceMetric", "no pods returned by selector "
                                   "while calculating replica count")
            samples = await resource_samples(self.client, namespace, selector, resource,
                                             container)
            now = datetime.now(UTC)
            groups = {str(p["metadata"]["name"]): group(
                p, samples.get(str(p["metadata"]["name"])), cpu=resource == "cpu", now=now)
                for p in pods}
            values = {name: s.value for name, s in samples.items() if name in groups}
            if utilization:
                replicas, percent, raw = utilization_replicas(
                    current, groups, values, pod_requests(pods, resource, container),
                    int(target.get("averageUtilization") or 1), self.settings.hpa_tolerance)
                current_status: Object = {"averageUtilization": percent,
                                          "averageValue": _quantity(raw)}
            else:
                replicas, average = average_replicas(
                    current, groups, values, milli(target.get("averageValue") or "1"),
                    self.settings.hpa_tolerance)
                current_status = {"averageValue": _quantity(average)}
        except ReplicaError as e:
            what = "utilization" if utilization else "usage"
            raise ReplicaError(e.reason, f"failed to get {resource} {what}: {e.message}"
                               ) from None
        label = f"{resource} container resource" if container else f"{resource} resource"
        name = f"{label} utilization (percentage of request)" if utilization else label
        body: Object = {"name": resource, "current": current_status}
        if container:
            body["container"] = container
        return replicas, name, {"type": kind, key: body}

    async def _write_status(self, hpa: Object, status: Object) -> None:
        if status == hpa.get("status"):
            return
        try:
            await self.client.update(HORIZONTALPODAUTOSCALERS, {**hpa, "status": status},
                                     subresource="status")
        except ClientError as e:  # a newer HPA: the next sync writes from it
            log.info("hpa status not written hpa=%s error=%s", meta.key(hpa), e)
