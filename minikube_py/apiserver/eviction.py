"""pods/eviction (policy/v1 Eviction, used by kubectl drain): a graceful delete
that a PodDisruptionBudget may refuse with 429, as kube-apiserver's
registry/core/pod/storage/eviction.go.

A pod that is terminal, Pending or already being deleted goes without asking.
Otherwise the one budget that selects it (more than one is an error) must
have been processed by the disruption controller (observedGeneration) and
allow a disruption; the eviction then takes one (disruptionsAllowed - 1,
the pod recorded in disruptedPods) in a compare-and-swap on the budget before
the pod is deleted, so two evictions racing for the last disruption cannot
both win. An unready pod may go while the budget is met (IfHealthyBudget),
or always (AlwaysAllow).
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.meta import now_rfc3339
from minikube_py.api.poddisruptionbudget import selects
from minikube_py.api.resources import PODDISRUPTIONBUDGETS, PODS
from minikube_py.api.types import Object
from minikube_py.apiserver import deletion
from minikube_py.apiserver.objects import decode_item
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target

REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
RETRIES = 5


def _ready(pod: Object) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _exempt(pod: Object) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or \
        bool(pod["metadata"].get("deletionTimestamp"))


async def _budgets(app: web.Application, pod: Object) -> list[Object]:
    items, _, _ = await app[OBJECTS].list(PODDISRUPTIONBUDGETS, pod["metadata"]["namespace"])
    return [b for b in (decode_item(i) for i in items) if selects(b, pod)]


def _take(budget: Object, pod: Object) -> Object | None:
    """The budget after this eviction, None if the pod may go without taking one;
    raises 429 when the budget allows no disruption."""
    spec, status = budget.get("spec") or {}, budget.get("status") or {}
    name = budget["metadata"]["name"]
    if int(status.get("observedGeneration") or 0) < int(budget["metadata"].get("generation")
                                                          or 1):
        raise errors.too_many_requests(REFUSED, [errors.Cause(
            "", f"The disruption budget {name} is still being processed by the server.",
            "DisruptionBudget")])
    healthy, desired = int(status.get("currentHealthy") or 0), \
        int(status.get("desiredHealthy") or 0)
    if not _ready(pod):
        policy = spec.get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
        if policy == "AlwaysAllow" or (healthy >= desired > 0):
            return None
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed <= 0:
        raise errors.too_many_requests(REFUSED, [errors.Cause(
            "", f"The disruption budget {name} needs {desired} healthy pods and has "
                f"{healthy} currently", "DisruptionBudget")])
    taken = copy.deepcopy(budget)
    taken_status = taken.setdefault("status", {})
    taken_status["disruptionsAllowed"] = allowed - 1
    taken_status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now_rfc3339()
    return taken


async def admit(app: web.Application, pod: Object) -> None:
    """Take a disruption for `pod` from its budget, or raise 429 (or 500 for two)."""
    if _exempt(pod):
        return
    store = app[OBJECTS]
    for _ in range(RETRIES):
        budgets = await _budgets(app, pod)
        if not budgets:
            return
        if len(budgets) > 1:
            raise errors.internal_error("This pod has more than one PodDisruptionBudget, which "
                                        "the eviction subresource does not support.")
        taken = _take(budgets[0], pod)
        if taken is None:
            return
        try:
            await store.update(PODDISRUPTIONBUDGETS, taken,
                               int(budgets[0]["metadata"]["resourceVersion"]))
            return
        except errors.StatusError as e:
            if e.code != 409:
                raise
    raise errors.too_many_requests("the disruption budget changed too often; try again")


async def evict(app: web.Application, target: Target, options: dict[str, Any],
                dry_run: bool) -> None:
    """The whole eviction: budget first, then the graceful delete."""
    assert target.name is not None
    pod = await app[OBJECTS].get(PODS, target.namespace, target.name)
    if dry_run:
        return
    await admit(app, pod)
    await deletion.delete_current(app, Target(PODS, target.namespace, target.name, None), pod,
                                  options)
