"""The full-disruption guard: zone states as Kubernetes' ComputeZoneState has them, the
eviction rate per state, and what node lifecycle's sync(node) writes in each (cases after
node_lifecycle_controller_test.go's TestMonitorNodeHealthEvictPodsWithDisruption)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from minikube_py.api.resources import NODES
from minikube_py.controllers.nodedisruption import (
    DisruptionSettings,
    ZoneGuard,
    ZoneState,
    eviction_rate,
    zone_state,
    zone_states,
)
from minikube_py.controllers.nodelifecycle import NOT_READY, UNREACHABLE, NodeLifecycleController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import recorded

JsonDict = dict[str, Any]
D = DisruptionSettings()


@pytest.mark.parametrize(
    ("ready", "not_ready", "state"),
    [
        pytest.param(3, 0, ZoneState.NORMAL, id="all ready"),
        pytest.param(0, 1, ZoneState.FULL, id="the only node not ready"),
        pytest.param(0, 5, ZoneState.FULL, id="no node ready"),
        pytest.param(1, 2, ZoneState.NORMAL, id="two not ready is never partial"),
        pytest.param(2, 3, ZoneState.PARTIAL, id="three of five (0.6 >= 0.55)"),
        pytest.param(3, 3, ZoneState.NORMAL, id="three of six (0.5 < 0.55)"),
        pytest.param(0, 0, ZoneState.NORMAL, id="empty"),
    ],
)
def test_zone_state(ready: int, not_ready: int, state: ZoneState) -> None:
    assert zone_state(ready, not_ready, 0.55) is state


def n(name: str, ready: bool | str | None = True, zone: str | None = None,
      **kw: Any) -> JsonDict:
    labels = {} if zone is None else {"topology.kubernetes.io/zone": zone}
    return builders.node(name, ready=ready, labels=labels, **kw)


def test_zones_come_from_the_label_and_unlabelled_nodes_share_one() -> None:
    nodes = [n("a", zone="z1"), n("b", False, "z1"), n("c", "Unknown", "z2"), n("d", None),
             builders.node("e", ready=False,
                           labels={"node.kubernetes.io/exclude-disruption": ""})]
    assert zone_states(nodes, 0.55) == {"z1": (ZoneState.NORMAL, 2),
                                        "z2": (ZoneState.FULL, 1), "": (ZoneState.FULL, 1)}


@pytest.mark.parametrize(
    ("state", "size", "rate"),
    [
        pytest.param(ZoneState.NORMAL, 3, 0.1, id="normal: --node-eviction-rate"),
        pytest.param(ZoneState.PARTIAL, 50, 0.0, id="partial, small zone: none"),
        pytest.param(ZoneState.PARTIAL, 51, 0.01, id="partial, large: the secondary rate"),
        pytest.param(ZoneState.FULL, 3, 0.1, id="one zone gone: normal (presumed dead)"),
    ],
)
def test_eviction_rate(state: ZoneState, size: int, rate: float) -> None:
    assert eviction_rate(state, size, D) == rate


def test_the_zone_token_bucket() -> None:
    guard = ZoneGuard(D)
    guard.observe([n("a"), n("b", False)])
    assert guard.take("", now=100.0) is None
    assert guard.take("", now=101.0) == pytest.approx(9.0)
    assert guard.take("", now=110.0) is None
    guard.observe([n("a", False), n("b", False)])
    assert guard.take("", now=200.0) == float("inf")  # all fully disrupted


# -- sync(node) ----------------------------------------------------------------------------

# No settling period: the NoExecute decision is made at the first look.
SETTINGS = ControllerManagerSettings(node_monitor_period=0.0)


def lifecycle(*objs: JsonDict, settings: ControllerManagerSettings = SETTINGS
              ) -> tuple[NodeLifecycleController, FakeClient]:
    return start(NodeLifecycleController, *objs, settings=settings)


def ours(client: FakeClient, name: str) -> set[tuple[str, str]] | None:
    """Our taints on the node as last written, None if it was not written."""
    bodies = [w.body for w in client.writes if w.resource == "nodes" and w.name == name]
    if not bodies:
        return None
    return {(t["key"], t["effect"]) for t in bodies[-1]["spec"].get("taints") or []
            if t["key"] in (UNREACHABLE, NOT_READY)}


NO_SCHEDULE = {(NOT_READY, "NoSchedule")}
BOTH = {(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")}
TAINTED = [{"key": NOT_READY, "effect": "NoSchedule"},
           {"key": NOT_READY, "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}]


@pytest.mark.parametrize(
    ("nodes", "written"),
    [
        pytest.param([n("n1", False), n("n2")], BOTH, id="normal zone: evict"),
        pytest.param([n("n1", False), n("n2", False)], NO_SCHEDULE,
                     id="every node not ready: no NoExecute"),
        pytest.param([n("n1", False, taints=TAINTED), n("n2", False)], NO_SCHEDULE,
                     id="every node not ready: NoExecute already placed is removed"),
        pytest.param([n("n1", False, "z1"), n("n2", False, "z1"), n("n3", True, "z2")], BOTH,
                     id="one zone fully disrupted, another healthy: evict"),
        pytest.param([n("n1", False, "z1"), n("n2", False, "z1"), n("n3", False, "z2")],
                     NO_SCHEDULE, id="every zone fully disrupted: no NoExecute"),
        pytest.param([n("n1", False), n("n2", False), n("n3", False), n("n4")], NO_SCHEDULE,
                     id="partial disruption of a small zone: no NoExecute"),
        pytest.param([n("n1", False), n("n2", False), n("n3", False),
                      *[n(f"r{i}") for i in range(60)]],
                     BOTH, id="three of 63 not ready: normal"),
    ],
)
async def test_taints_by_zone_state(nodes: list[JsonDict], written: set[tuple[str, str]] | None
                                    ) -> None:
    c, client = lifecycle(*nodes)
    await c.sync("n1")
    assert ours(client, "n1") == written


async def test_partial_disruption_of_a_large_zone_uses_the_secondary_rate() -> None:
    nodes = [n(f"d{i}", False) for i in range(40)] + [n(f"r{i}") for i in range(20)]
    c, client = lifecycle(*nodes)
    await c.sync("d0")
    await c.sync("d1")
    assert ours(client, "d0") == BOTH and ours(client, "d1") == NO_SCHEDULE
    assert ("d1", 100) in [(k, round(s)) for k, s in recorded(c.queue).delayed]  # 1 / 0.01


async def test_new_evictions_in_a_zone_are_rate_limited() -> None:
    settings = replace(SETTINGS, disruption=replace(D, node_eviction_rate=0.5))
    c, client = lifecycle(n("n1", False), n("n2", False), *[n(f"r{i}") for i in range(8)],
                          settings=settings)
    await c.sync("n1")
    await c.sync("n2")
    assert ours(client, "n1") == BOTH and ours(client, "n2") == NO_SCHEDULE
    assert ("n2", 2) in [(k, round(s)) for k, s in recorded(c.queue).delayed]


async def test_a_node_coming_back_ends_full_disruption() -> None:
    c, client = lifecycle(n("n1", False), n("n2", False))
    await c.sync("n1")
    assert ours(client, "n1") == NO_SCHEDULE
    c.nodes.apply("MODIFIED", n("n2"))
    recorded(c.queue).added.clear()
    await c.sync("n2")
    assert recorded(c.queue).added == ["n1"]  # looked at again: its NoExecute taint may come now
    c.nodes.apply("MODIFIED", client.held(NODES, "n1"))
    await c.sync("n1")
    assert ours(client, "n1") == BOTH


async def test_a_node_found_not_ready_waits_one_monitor_period_before_no_execute() -> None:
    """Nodes failing together are noticed one by one; the first must not be evicted
    before the others count in its zone's state."""
    c, client = lifecycle(n("n1", False), n("n2"), n("n3"),
                          settings=replace(SETTINGS, node_monitor_period=5.0))
    await c.sync("n1")
    assert ours(client, "n1") == NO_SCHEDULE
    assert ("n1", 5) in [(k, round(s)) for k, s in recorded(c.queue).delayed]
