"""Node-side admission of pods bound directly to a node."""

from __future__ import annotations

from typing import Any

import pytest

from agent.kubelet.admission import admit, pod_requests
from tests.fixtures import builders

NODE = {"cpu": "2", "memory": "1Gi", "pods": "3"}


def pod(cpu: str | None = None, memory: str | None = None, init_memory: str | None = None
        ) -> dict[str, Any]:
    init = [{"name": "i", "resources": {"limits": {"memory": init_memory}}}] if init_memory else []
    return builders.pod(cpu=cpu, memory=memory, spec={"initContainers": init} if init else None)


def test_requests_take_the_largest_init_container() -> None:
    assert pod_requests(pod(cpu="500m", memory="100Mi", init_memory="200Mi")) == {
        "cpu": 500, "memory": 200 * 2**20}


@pytest.mark.parametrize("new, running, reason", [
    pytest.param(pod(memory="512Mi"), [pod(memory="256Mi")], None, id="fits"),
    pytest.param(pod(memory="2Gi"), [], "OutOfmemory", id="more-memory-than-the-node"),
    pytest.param(pod(cpu="1500m"), [pod(cpu="1")], "OutOfcpu", id="cpu-used-up"),
    pytest.param(pod(), [pod(), pod(), pod()], "OutOfpods", id="max-pods"),
    pytest.param(pod(), [pod(memory="1Gi")], None, id="best-effort-always-fits"),
])
def test_admit(new: dict[str, Any], running: list[dict[str, Any]], reason: str | None) -> None:
    result = admit(new, running, NODE)
    assert (result[0] if result else None) == reason
