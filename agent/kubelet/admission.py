"""Node-side admission: a pod bound here that cannot fit is Failed at once, as kubelet's
`OutOfcpu`/`OutOfmemory`/`OutOfpods`, instead of starting and starving its neighbours.

The scheduler normally prevents this; a pod created with spec.nodeName set skips it.
"""

from __future__ import annotations

from typing import Any

from minikube_py.api.quantity import cpu_millis, to_bytes


def pod_requests(pod: dict[str, Any]) -> dict[str, int]:
    """Effective requests: max(largest init container, sum of app containers), per resource."""
    def req(c: dict[str, Any]) -> dict[str, int]:
        res = c.get("resources") or {}
        values = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return {"cpu": cpu_millis(values["cpu"]) if "cpu" in values else 0,
                "memory": to_bytes(values["memory"]) if "memory" in values else 0}

    spec = pod["spec"]
    apps = [req(c) for c in spec.get("containers") or []]
    inits = [req(c) for c in spec.get("initContainers") or []]
    return {r: max([sum(a[r] for a in apps)] + [i[r] for i in inits]) for r in ("cpu", "memory")}


def admit(pod: dict[str, Any], admitted: list[dict[str, Any]],
          allocatable: dict[str, str]) -> tuple[str, str] | None:
    """None if the pod fits beside the `admitted` (running) pods, else (reason, message)."""
    if len(admitted) + 1 > int(allocatable.get("pods", "110")):
        return "OutOfpods", (f"Node didn't have enough resource: pods, requested: 1, used: "
                             f"{len(admitted)}, capacity: {allocatable.get('pods')}")
    want = pod_requests(pod)
    used = {"cpu": 0, "memory": 0}
    for other in admitted:
        for r, v in pod_requests(other).items():
            used[r] += v
    capacity = {"cpu": cpu_millis(allocatable["cpu"]), "memory": to_bytes(allocatable["memory"])}
    for r in ("cpu", "memory"):
        if want[r] and want[r] + used[r] > capacity[r]:
            return f"OutOf{r}", (f"Pod Node didn't have enough resource: {r}, requested: "
                               f"{want[r]}, used: {used[r]}, capacity: {capacity[r]}")
    return None
