"""Node lifecycle: the pure rules (which taints a node gets from its Ready
condition, which tolerations decide eviction) and what sync(node) writes:
silent nodes go Unknown, taints follow Ready, pods are marked not ready and
evicted when their toleration runs out, pods of deleted nodes are collected
(Kubernetes' node_lifecycle_controller_test.go and podgc cases, over our fake
client)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.api.meta import format_time, get_condition
from minikube_py.api.resources import NODES, PODS
from minikube_py.api.taints import toleration_seconds
from minikube_py.api.types import Taint, Toleration
from minikube_py.client.errors import ApiError, Conflict, NotFound, ServerError
from minikube_py.controllers.nodelifecycle import (
    NODE_CONDITIONS,
    NOT_READY,
    UNREACHABLE,
    NodeLifecycleController,
    desired_taints,
    effective_tolerations,
)
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import recorded

NOW = "2026-01-01T00:00:00Z"
USER_TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}


def node(ready: str | None, taints: list[Taint] | None = None) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {"metadata": {"name": "n"}, "spec": {"taints": taints or []},
            "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("ready", "existing", "expected"),
    [
        pytest.param("Unknown", [USER_TAINT], [USER_TAINT,
                     {"key": UNREACHABLE, "effect": "NoSchedule"},
                     {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": NOW}],
                     id="unknown-is-unreachable"),
        pytest.param("False", [], [{"key": NOT_READY, "effect": "NoSchedule"},
                                   {"key": NOT_READY, "effect": "NoExecute", "timeAdded": NOW}],
                     id="false-is-not-ready"),
        pytest.param("True", [USER_TAINT, {"key": UNREACHABLE, "effect": "NoExecute"}],
                     [USER_TAINT], id="back-to-ready-removes-ours-only"),
        pytest.param("False", [{"key": UNREACHABLE, "effect": "NoSchedule"}],
                     [{"key": NOT_READY, "effect": "NoSchedule"},
                      {"key": NOT_READY, "effect": "NoExecute", "timeAdded": NOW}],
                     id="unreachable-becomes-not-ready"),
        pytest.param(None, [], [], id="no-condition-yet"),
    ],
)
def test_desired_taints(ready: str | None, existing: list[Taint], expected: list[Taint]
                        ) -> None:
    assert desired_taints(node(ready, existing), NOW) == expected


def test_desired_taints_keep_the_original_time_added() -> None:
    old: Taint = {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"}
    taints = desired_taints(node("Unknown", [old]), NOW)
    assert old in taints and len(taints) == 2


TAINTS: list[Taint] = [{"key": UNREACHABLE, "effect": "NoExecute"}]


@pytest.mark.parametrize(
    ("tolerations", "seconds"),
    [
        pytest.param([], 7.0, id="none-get-the-eviction-timeout"),
        pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                       "tolerationSeconds": 300}], 7.0, id="admission-default-is-replaced"),
        pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                       "tolerationSeconds": 3600}], 3600.0, id="user-choice-kept"),
        pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], None,
                     id="forever"),
        pytest.param([{"operator": "Exists"}], None, id="tolerates-everything"),
    ],
)
def test_effective_tolerations(tolerations: list[Toleration], seconds: float | None) -> None:
    assert toleration_seconds(TAINTS, effective_tolerations(tolerations, 7.0)) == seconds


# -- sync(node) ----------------------------------------------------------------------------

JsonDict = dict[str, Any]
# No settling period: the NoExecute decision is made at the first look.
SETTINGS = ControllerManagerSettings(node_monitor_period=0.0)
# A grace period below zero: every node has been silent too long at its first look.
SILENT = replace(SETTINGS, node_monitor_grace_period=-1.0)
HOUR_AGO = format_time(datetime.now(UTC) - timedelta(hours=1))


def tainted(key: str, added: str = HOUR_AGO) -> list[JsonDict]:
    return [{"key": key, "effect": "NoSchedule"},
            {"key": key, "effect": "NoExecute", "timeAdded": added}]


def on_n1(name: str, *, ready: bool = True, **kw: Any) -> JsonDict:
    return builders.pod(name, "ns", node="n1", ready=ready, **kw)


# A Ready node beside the one under test: with every node NotReady, nothing is evicted
# (full disruption, test_controllers_nodedisruption.py).
PEER = builders.node("peer")


def lifecycle(*objs: JsonDict, settings: ControllerManagerSettings = SETTINGS
              ) -> tuple[NodeLifecycleController, FakeClient]:
    return start(NodeLifecycleController, PEER, *objs, settings=settings)


async def test_a_reporting_node_is_looked_at_again_when_its_grace_would_run_out() -> None:
    c, client = lifecycle(builders.node("n1"), on_n1("a"))
    await c.sync("n1")
    assert client.writes == []
    [(key, seconds)] = recorded(c.queue).delayed
    assert key == "n1" and 40 < seconds < 41


async def test_a_silent_node_goes_unknown_and_unreachable_and_its_pods_not_ready() -> None:
    c, client = lifecycle(builders.node("n1"), on_n1("a"), on_n1("b", ready=False),
                          builders.pod("elsewhere", "ns", node="n2", ready=True),
                          settings=SILENT)
    await c.sync("n1")
    assert client.summary() == [("update", "nodes/status", "n1"), ("update", "nodes", "n1"),
                                ("patch", "pods/status", "a")]
    status, taints, pod_status = (w.body for w in client.writes)
    assert [(cond["type"], cond["status"], cond["reason"])
            for cond in status["status"]["conditions"]] == [
        (t, "Unknown", "NodeStatusUnknown") for t in NODE_CONDITIONS]
    assert [(t["key"], t["effect"]) for t in taints["spec"]["taints"]] == [
        (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
    ready = get_condition(pod_status["status"]["conditions"], "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "NodeNotReady")
    assert client.events() == [("Normal", "NodeNotReady", "Node n1 status is now: NodeNotReady")]
    [(key, seconds)] = recorded(c.queue).delayed  # eviction is due after the default 300 s
    assert key == "n1" and 290 < seconds <= 300.1  # timeAdded has whole seconds


@pytest.mark.parametrize(
    ("node", "taints"),
    [
        pytest.param(builders.node("n1", ready=False), [(NOT_READY, "NoSchedule"),
                                                         (NOT_READY, "NoExecute")],
                     id="a node that says NotReady gets the not-ready taints"),
        pytest.param(builders.node("n1", ready="Unknown", taints=tainted(UNREACHABLE)), None,
                     id="a node already unreachable is not written again"),
        pytest.param(builders.node("n1", taints=[USER_TAINT, *tainted(UNREACHABLE)]),
                     [("dedicated", "NoSchedule")], id="a node ready again loses our taints"),
        pytest.param(builders.node("n1", ready=None), None,
                     id="a node without a Ready condition yet is left alone"),
    ],
)
async def test_taints_follow_the_ready_condition(node: JsonDict,
                                                 taints: list[tuple[str, str]] | None) -> None:
    c, client = lifecycle(node)
    await c.sync("n1")
    assert client.summary() == ([] if taints is None else [("update", "nodes", "n1")])
    if taints is not None:
        assert [(t["key"], t["effect"]) for t in client.writes[0].body["spec"]["taints"]] == \
            taints


LONG = 10 * 365 * 24 * 3600


@pytest.mark.parametrize(
    ("pod", "evicted"),
    [
        pytest.param(on_n1("a", ready=False), True,
                     id="a pod without tolerations goes after the eviction timeout"),
        pytest.param(on_n1("a", ready=False, spec={"tolerations": [
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]}), False,
            id="a pod tolerating unreachable forever stays"),
        pytest.param(on_n1("a", ready=False, spec={"tolerations": [
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": LONG}]}), False,
            id="a pod tolerating it for longer stays for now"),
        pytest.param(on_n1("a", ready=False, deletion_timestamp=HOUR_AGO), False,
                     id="a pod already being deleted is not deleted again"),
    ],
)
async def test_eviction_when_tolerations_run_out(pod: JsonDict, evicted: bool) -> None:
    c, client = lifecycle(builders.node("n1", ready="Unknown", taints=tainted(UNREACHABLE)), pod)
    await c.sync("n1")
    assert client.summary() == ([("delete", "pods", "a")] if evicted else [])
    assert client.events() == ([("Normal", "TaintManagerEviction",
                                 "Marking for deletion Pod ns/a")] if evicted else [])


async def test_a_pod_evicted_meanwhile_gets_no_event() -> None:
    c, client = lifecycle(builders.node("n1", ready="Unknown", taints=tainted(UNREACHABLE)),
                          on_n1("a", ready=False))
    client.fail("delete", PODS, "a", error=NotFound)
    await c.sync("n1")
    assert client.events() == []


@pytest.mark.parametrize(
    ("verb", "error", "requeued"),
    [
        pytest.param("update", Conflict, True,
                     id="a node changed meanwhile is looked at again shortly"),
        pytest.param("update", NotFound, False, id="a node deleted meanwhile is done"),
    ],
)
async def test_node_write_races(verb: str, error: type[ApiError], requeued: bool) -> None:
    c, client = lifecycle(builders.node("n1"), on_n1("a"), settings=SILENT)
    client.fail(verb, NODES, "n1", error=error)
    await c.sync("n1")
    assert client.writes == []
    assert recorded(c.queue).delayed == ([("n1", 0.2)] if requeued else [])


async def test_a_pod_status_that_cannot_be_written_does_not_stop_the_others() -> None:
    c, client = lifecycle(builders.node("n1", ready=False), on_n1("a"), on_n1("b"))
    client.fail("patch", PODS, "a", error=ServerError)
    await c.sync("n1")
    assert ("patch", "pods/status", "b") in client.summary()


@pytest.mark.parametrize(
    ("live", "deleted"),
    [
        pytest.param(False, True, id="pods of a deleted node are deleted at once"),
        pytest.param(True, False, id="pods of a node the cache has not seen yet are kept"),
    ],
)
async def test_pods_of_deleted_nodes(live: bool, deleted: bool) -> None:
    c, client = lifecycle(on_n1("a"), on_n1("b"), builders.pod("c", "ns", node="n2"))
    if live:
        client.put(NODES, builders.node("n1"))
    await c.sync("n1")
    assert sorted(client.summary()) == ([("delete", "pods", "a"), ("delete", "pods", "b")]
                                        if deleted else [])
    if deleted:
        assert client.writes[0].body["gracePeriodSeconds"] == 0


def test_nodes_and_their_heartbeats_queue_the_node() -> None:
    c, _ = lifecycle()
    c.nodes.apply("ADDED", builders.node("n1"))
    c.leases.apply("ADDED", builders.lease("n2"))
    c.leases.apply("ADDED", builders.lease("n3", "kube-system"))  # not a node's heartbeat
    assert recorded(c.queue).added == ["n1", "n2"]
