"""ReplicationControllers run on the ReplicaSet controller's machinery: the same
sync(key) over an equality selector, owner references of kind
ReplicationController, status to replicationcontrollers/status."""

from __future__ import annotations

from typing import Any, cast

from minikube_py.api.resources import REPLICATIONCONTROLLERS
from minikube_py.client import ApiClient
from minikube_py.controllers.replicaset import ReplicationControllerController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.builders import ref
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient


def rc(replicas: int) -> dict[str, Any]:
    obj = builders.replicaset("web", "ns", replicas=replicas, uid="rc-uid", generation=2)
    obj.update(apiVersion="v1", kind="ReplicationController")
    obj["spec"]["selector"] = {"app": "web"}
    return obj


async def test_keeps_replicas_adopting_by_equality_selector() -> None:
    client = FakeClient()
    c = ReplicationControllerController(cast(ApiClient, client), ControllerManagerSettings())
    owner = rc(3)
    fill(c.replicasets, owner)
    client.put(REPLICATIONCONTROLLERS, owner)  # adoption reads the owner live first
    fill(c.pods, builders.pod("mine", "ns", node="n1", ready=True, labels={"app": "web"},
                              owners=[ref(owner)]),
         builders.pod("orphan", "ns", node="n1", ready=True, labels={"app": "web"}),
         builders.pod("other", "ns", node="n1", ready=True, labels={"app": "db"}))
    await c.sync("ns/web")
    verbs = [(w.verb, w.resource, w.name) for w in client.writes]
    assert ("patch", "pods", "orphan") in verbs
    creates = [w.body for w in client.writes if w.verb == "create" and w.resource == "pods"]
    assert len(creates) == 1
    assert creates[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    status = [w for w in client.writes if w.resource == "replicationcontrollers/status"]
    assert status and status[-1].body["status"]["observedGeneration"] == 2
