"""TTL-after-finished: finished Jobs are deleted (foreground, uid precondition)
once their TTL has run out, re-checked against a fresh read."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.api.resources import JOBS
from minikube_py.client import ApiClient
from minikube_py.controllers.pods import format_time
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.controllers.ttlafterfinished import TTLAfterFinishedController
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

NOW = 1_800_000_000.0


def finished_job(
        ttl: int | None, finished_ago: float, condition: str = "Complete") -> dict[str, Any]:
    spec = {"ttlSecondsAfterFinished": ttl} if ttl is not None else {}
    return builders.job("pi", "ns", spec=spec, status={"conditions": [
        {"type": condition, "status": "True",
         "lastTransitionTime": format_time(NOW - finished_ago)}]})


@pytest.mark.parametrize(("job", "deletes"), [
    pytest.param(finished_job(10, 11), True, id="expired"),
    pytest.param(finished_job(0, 0, "Failed"), True, id="failed-ttl-zero"),
    pytest.param(finished_job(10, 5), False, id="not-yet"),
    pytest.param(finished_job(None, 500), False, id="no-ttl"),
    pytest.param(builders.job("pi", "ns", spec={"ttlSecondsAfterFinished": 0}), False,
                 id="running"),
])
async def test_deletes_expired_finished_jobs(job: dict[str, Any], deletes: bool) -> None:
    client = FakeClient()
    client.put(JOBS, job)
    c = TTLAfterFinishedController(cast(ApiClient, client), ControllerManagerSettings())
    c.clock = lambda: NOW
    fill(c.jobs, job)
    await c.sync("ns/pi")
    writes = [w for w in client.writes if w.verb == "delete"]
    assert bool(writes) is deletes
    if deletes:
        assert writes[0].body["propagationPolicy"] == "Foreground"
        assert writes[0].body["preconditions"] == {"uid": job["metadata"]["uid"]}


async def test_a_fresh_read_with_a_longer_ttl_wins_over_the_cache() -> None:
    client = FakeClient()
    client.put(JOBS, finished_job(3600, 11))
    c = TTLAfterFinishedController(cast(ApiClient, client), ControllerManagerSettings())
    c.clock = lambda: NOW
    fill(c.jobs, finished_job(10, 11))
    await c.sync("ns/pi")
    assert not [w for w in client.writes if w.verb == "delete"]
