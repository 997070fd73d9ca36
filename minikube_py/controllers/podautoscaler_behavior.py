"""How far and how fast an HPA may move: stabilization windows and scaling policies.

As Kubernetes' normalizeDesiredReplicasWithBehaviors: the recommendation is first
stabilized (scaling up goes only as high as the lowest recommendation within the
scale-up window, scaling down only as low as the highest within the scale-down window,
300 s by default), then limited by the policies over the replicas changed within each
policy's period (Max of the policies unless selectPolicy says Min or Disabled), then by
min/max replicas. Without `behavior` Kubernetes keeps its older rules, and so do we
(normalizeDesiredReplicas): only scaling down is stabilized, over the controller's
--horizontal-pod-autoscaler-downscale-stabilization, and one step goes at most to twice
the current count or 4. Each limit names the ScalingLimited reason Kubernetes gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minikube_py.api.shape import dicts

_FASTER_UP = "the desired replica count is increasing faster than the maximum scale rate"
_ABOVE_MAX = "the desired replica count is more than the maximum replica count"
_BELOW_MIN = "the desired replica count is less than the minimum replica count"
_WITHIN = "the desired count is within the acceptable range"


@dataclass(frozen=True)
class Event:
    """A scale change the controller made: when (seconds) and by how many replicas."""

    timestamp: float
    change: int


@dataclass(frozen=True)
class Decision:
    replicas: int
    reason: str  # ScalingLimited's: DesiredWithinRange, TooManyReplicas, ScaleUpLimit ...
    message: str


def stabilize(recommendations: Sequence[tuple[float, int]], now: float, current: int,
              desired: int, up_window: float, down_window: float) -> int:
    """The stabilized recommendation (`recommendations`: (time, replicas) made before)
    under `behavior` (stabilizeRecommendationWithBehaviors)."""
    up = down = desired
    for stamp, replicas in recommendations:
        if stamp > now - up_window:
            up = min(up, replicas)
        if stamp > now - down_window:
            down = max(down, replicas)
    return min(max(current, up), down)


def stabilize_down(recommendations: Sequence[tuple[float, int]], now: float, desired: int,
                   window: float) -> int:
    """Without `behavior`: the highest recommendation within the downscale stabilization
    window (--horizontal-pod-autoscaler-downscale-stabilization), scaling up at once
    (stabilizeRecommendation)."""
    return max([desired, *(r for stamp, r in recommendations if stamp >= now - window)])


def _proposals(current: int, ups: Sequence[Event], downs: Sequence[Event],
               rules: Mapping[str, Any], now: float, sign: int) -> list[int]:
    """Per policy, the farthest count it allows from where its period started (the
    current count less what was added, plus what was removed, within the period)."""
    proposals = []
    for policy in dicts(rules.get("policies")):
        period = float(policy.get("periodSeconds") or 0)
        start = current - _changed_within(period, ups, now) + _changed_within(period, downs,
                                                                              now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposals.append(start + sign * value)
        elif sign > 0:
            proposals.append(math.ceil(start * (1 + value / 100)))
        else:
            proposals.append(int(start * (1 - value / 100)))
    return proposals


def _changed_within(period: float, events: Sequence[Event], now: float) -> int:
    return sum(e.change for e in events if e.timestamp > now - period)


def scale_up_limit(current: int, ups: Sequence[Event], downs: Sequence[Event],
                   rules: Mapping[str, Any], now: float) -> int:
    """calculateScaleUpLimitWithScalingRules: the most policies allow (Max) or the least
    (Min); Disabled, or no policy: no change."""
    proposals = _proposals(current, ups, downs, rules, now, +1)
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled" or not proposals:
        return current
    return min(proposals) if select == "Min" else max(proposals)


def scale_down_limit(current: int, ups: Sequence[Event], downs: Sequence[Event],
                     rules: Mapping[str, Any], now: float) -> int:
    """calculateScaleDownLimitWithBehaviors: the lowest any policy allows (Max change), or
    the highest (Min)."""
    proposals = _proposals(current, ups, downs, rules, now, -1)
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled" or not proposals:
        return current
    return max(proposals) if select == "Min" else min(proposals)


def limit_by_rules(desired: int, current: int, minimum: int, maximum: int) -> Decision:
    """Without `behavior` (convertDesiredReplicasWithRules): at most twice the current
    count, or 4, in one step; then min/max replicas."""
    up_limit = max(2 * current, 4)
    if maximum > up_limit:
        ceiling, reason, message = up_limit, "ScaleUpLimit", _FASTER_UP
    else:
        ceiling, reason, message = maximum, "TooManyReplicas", _ABOVE_MAX
    if desired < minimum:
        return Decision(minimum, "TooFewReplicas", _BELOW_MIN)
    if desired > ceiling:
        return Decision(ceiling, reason, message)
    return Decision(desired, "DesiredWithinRange", _WITHIN)


def limit(desired: int, current: int, minimum: int, maximum: int, *, ups: Sequence[Event],
          downs: Sequence[Event], up_rules: Mapping[str, Any],
          down_rules: Mapping[str, Any], now: float) -> Decision:
    """convertDesiredReplicasWithBehaviorRate: the count after policies and bounds."""
    if desired > current:
        up_limit = max(scale_up_limit(current, ups, downs, up_rules, now), current)
        if maximum > up_limit:
            allowed, reason, message = up_limit, "ScaleUpLimit", _FASTER_UP
        else:
            allowed, reason, message = maximum, "TooManyReplicas", _ABOVE_MAX
        if desired > allowed:
            return Decision(allowed, reason, message)
    elif desired < current:
        down_limit = min(scale_down_limit(current, ups, downs, down_rules, now), current)
        if minimum < down_limit:
            allowed, reason, message = down_limit, "ScaleDownLimit", (
                "the desired replica count is decreasing faster than the maximum scale rate")
        else:
            allowed, reason, message = minimum, "TooFewReplicas", _BELOW_MIN
        if desired < allowed:
            return Decision(allowed, reason, message)
    return Decision(desired, "DesiredWithinRange", _WITHIN)
