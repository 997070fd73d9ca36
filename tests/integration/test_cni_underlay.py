"""The lab's underlay and its FORWARD rule on a real kernel, built inside a throwaway
"host" namespace: idempotent, decided by errno, and gone after removal."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from cni_plugins import forwarding, underlay
from cni_plugins.iptables_runner import firewall
from tests.fixtures.netns import Netns

pytestmark = pytest.mark.root

GATEWAY, PREFIXLEN = "192.168.231.1", 24


def build(host: Netns, bridge: str, machine: underlay.Machine) -> None:
    with host.entered():
        underlay.ensure_switch(bridge, address=GATEWAY, prefixlen=PREFIXLEN)
        underlay.ensure_machine(bridge, machine, prefixlen=PREFIXLEN, gateway=GATEWAY)


def test_a_machine_on_the_switch_reaches_the_host_until_its_cable_is_pulled(
        netns: Callable[..., Netns]) -> None:
    host, inside = netns("ulhost"), netns("ulnode")
    tag = uuid.uuid4().hex[:6]
    bridge, machine = f"mkpt-br{tag}", underlay.Machine(inside.name, f"mkpt-v{tag}",
                                                        "192.168.231.11")
    build(host, bridge, machine)
    build(host, bridge, machine)  # a second time: everything exists, nothing fails
    assert inside.ping(GATEWAY)
    route = inside.run("ip", "-4", "route", "show", "default").stdout
    assert f"default via {GATEWAY} dev eth0" in route
    with host.entered():
        assert underlay.present([inside.name], [bridge, machine.host_end]) == [
            f"netns {inside.name}", f"link {bridge}", f"link {machine.host_end}"]
        underlay.set_cable(machine.host_end, up=False)
    assert not inside.ping(GATEWAY, timeout=0.5)
    with host.entered():
        underlay.set_cable(machine.host_end, up=True)
        with pytest.raises(LookupError):
            underlay.set_cable(f"mkpt-x{tag}", up=True)
    assert inside.ping(GATEWAY)
    with host.entered():
        underlay.remove([inside.name], [machine.host_end, bridge])
        underlay.remove([inside.name], [machine.host_end, bridge])  # gone is done
        assert underlay.present([inside.name], [bridge, machine.host_end]) == []


def test_the_bridge_rule_is_one_chain_with_one_jump_and_leaves_nothing(
        netns: Callable[..., Netns]) -> None:
    host = netns("ulrule")
    chain = "MKPT-LAB-FORWARD"
    with host.entered():
        forwarding.accept_bridged("mkpt-br0", chain)
        forwarding.accept_bridged("mkpt-br0", chain)  # an earlier run's rule is replaced
        saved = firewall().save_sync("filter").splitlines()
        assert saved.count(f"-A FORWARD -j {chain}") == 1
        assert f"-A {chain} -i mkpt-br0 -o mkpt-br0 -j ACCEPT" in saved
        assert forwarding.has_chain("filter", chain)
        forwarding.remove_chains([("filter", "FORWARD", chain)])
        forwarding.remove_chains([("filter", "FORWARD", chain)])
        assert not forwarding.has_chain("filter", chain)
        assert chain not in firewall().save_sync("filter")
