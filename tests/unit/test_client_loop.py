"""SyncLoop: retries with back-off, then gives the key up with a log line and an Event."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import pytest

from minikube_py.api.resources import EVENTS, PODS
from minikube_py.client.loop import GIVE_UP_REASON, MAX_RETRIES, SyncLoop
from minikube_py.client.ratelimit import ExponentialBackoff
from minikube_py.client.workqueue import WorkQueue
from minikube_py.controllers.base import Controller
from minikube_py.controllers.settings import ControllerManagerSettings

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "ns", "uid": "u-web"}}


class EventSink:
    """The ApiClient seam the EventRecorder writes through."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def create(self, resource: Any, obj: dict[str, Any], namespace: str | None = None,
                     **_: Any) -> dict[str, Any]:
        assert resource is EVENTS
        self.events.append(obj)
        return obj


class Broken(SyncLoop):
    name = "broken-loop"

    def __init__(self, client: Any, known: dict[str, dict[str, Any]]) -> None:
        super().__init__(client)
        self.queue = WorkQueue(self.name, rate_limiter=ExponentialBackoff(0.0005, 0.001))
        self.known = known
        self.calls = 0

    async def sync(self, key: Hashable) -> None:
        self.calls += 1
        raise RuntimeError("conflict, always")

    def object_for(self, key: Hashable) -> dict[str, Any] | None:
        return self.known.get(str(key))


async def run_until_given_up(loop: Broken, key: str) -> None:
    loop.queue.add(key)
    workers = asyncio.create_task(loop.run_workers())
    try:
        for _ in range(500):
            if loop.calls > MAX_RETRIES:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)  # a 17th call would come within this
    finally:
        loop.queue.shutdown()
        await asyncio.wait_for(workers, 1)


@pytest.mark.parametrize(("known", "events"), [
    pytest.param({"ns/web": POD}, 1, id="names-an-object-event"),
    pytest.param({}, 0, id="names-nothing-log-only"),
])
async def test_key_is_given_up_after_15_retries(known: dict[str, dict[str, Any]], events: int,
                                                caplog: pytest.LogCaptureFixture) -> None:
    sink = EventSink()
    loop = Broken(sink, known)
    await run_until_given_up(loop, "ns/web")
    assert loop.calls == 1 + MAX_RETRIES, "first try plus client-go's 15 retries"
    assert "given up queue=broken-loop key=ns/web" in caplog.text
    assert len(sink.events) == events
    for event in sink.events:
        assert (event["type"], event["reason"]) == ("Warning", GIVE_UP_REASON)
        assert event["involvedObject"]["uid"] == "u-web"
        assert "gave up after 15 retries: conflict, always" in event["message"]
    assert loop.queue.num_requeues("ns/web") == 0, "a given-up key starts afresh when re-added"


class PodController(Controller):
    name = "pod-test-controller"

    def __init__(self, client: Any, settings: ControllerManagerSettings) -> None:
        super().__init__(client, settings)
        self.pods = self.watch(PODS)

    async def sync(self, key: Hashable) -> None:
        """Nothing to do."""


@pytest.mark.parametrize(("key", "found"), [
    pytest.param("ns/web", True, id="cached-object"),
    pytest.param("ns/gone", False, id="not-cached"),
    pytest.param(("pods", "ns/web"), False, id="key-of-another-shape"),
])
def test_controller_keys_name_objects_of_the_first_watched_kind(key: Hashable,
                                                                found: bool) -> None:
    controller = PodController(EventSink(), ControllerManagerSettings())
    controller.pods.cache.put("ns/web", POD)
    assert (controller.object_for(key) is POD) is found
