"""The proxier's sync strategy against a recording backend (our own seam):
full vs partial syncs, stale chains, hooks, failures, conntrack flushes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, cast

import pytest

from agent.proxy import proxier as proxier_mod
from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from cni_plugins.iptables_runner import Backend, IptablesError
from tests.fixtures import builders
from tests.fixtures.fake_iptables import collecting


class RecordingBackend:
    """Keeps what a restore would leave in the kernel as iptables-save text."""

    mode = "legacy"

    def __init__(self) -> None:
        self.saved = {"nat": "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n",
                      "filter": "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"}
        self.restores: list[str] = []
        self.fail_next = False
        self.saves = 0

    async def save(self, table: str | None = None) -> str:
        self.saves += 1
        return self.saved[table] if table else self.saved["filter"] + self.saved["nat"]

    async def restore(self, text: str) -> None:
        self.apply(text)

    def restoring(self) -> contextlib.AbstractContextManager[Callable[[str], None]]:
        return collecting(self.apply)

    def apply(self, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise IptablesError("iptables-restore: line 3 failed")
        self.restores.append(text)


def recording(proxy: Proxier) -> RecordingBackend:
    """The RecordingBackend the test gave `proxy`."""
    return cast(RecordingBackend, proxy.backend)


def service(name: str, ip: str, *, proto: str = "TCP", node_port: int = 0) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "p", "port": 80, "protocol": proto}
    if node_port:
        port["nodePort"] = node_port
    return builders.service(name, "ns", cluster_ip=ip, ports=[port], selector=None,
                            type="NodePort" if node_port else "ClusterIP")


def endpoints(name: str, *ips: str) -> dict[str, Any]:
    return builders.endpoints(name, "ns", ips=ips, ports=[{"name": "p", "port": 8080}])


@pytest.fixture
def proxy() -> Proxier:
    p = Proxier(client=None, settings=ProxySettings(flush_udp_conntrack=False))
    p.backend = cast(Backend, RecordingBackend())  # duck-typed: save, restore, restoring
    for i in (1, 2):
        p.set_service(service(f"s{i}", f"10.96.0.{i}"))
        p.set_endpoints(endpoints(f"s{i}", f"10.244.0.{i}"))
    return p


def declared(text: str) -> set[str]:
    return {line[1:].split()[0] for line in text.splitlines() if line.startswith(":KUBE-S")}


async def test_first_sync_is_full_and_adds_hooks(proxy: Proxier) -> None:
    stats = await proxy.sync()
    text = recording(proxy).restores[-1]
    assert stats.full and stats.written == 2
    assert "-I PREROUTING" in text and "-I POSTROUTING" in text
    assert len({c for c in declared(text) if c.startswith("KUBE-SVC-")}) == 2


async def test_partial_sync_writes_only_the_changed_service(proxy: Proxier) -> None:
    await proxy.sync()
    proxy.set_endpoints(endpoints("s2", "10.244.0.2", "10.244.0.3"))
    stats = await proxy.sync()
    text = recording(proxy).restores[-1]
    assert not stats.full and stats.written == 1
    assert "10.244.0.3:8080" in text and "10.244.0.1:8080" not in text
    assert "-I PREROUTING" not in text
    assert ":KUBE-SERVICES" not in text and "*filter" not in text  # shared chains unchanged


async def test_new_service_rewrites_the_shared_chains_it_changes(proxy: Proxier) -> None:
    await proxy.sync()
    proxy.set_service(service("s3", "10.96.0.3", node_port=30003))
    proxy.set_endpoints(endpoints("s3", "10.244.0.3"))
    stats = await proxy.sync()
    text = recording(proxy).restores[-1]
    assert stats.written == 1 and "*filter" not in text
    assert ":KUBE-SERVICES - [0:0]" in text and ":KUBE-NODEPORTS - [0:0]" in text
    # all three jumps in KUBE-SERVICES, plus the masquerade rule of the one new chain
    assert text.count("cluster IP\" -m tcp -p tcp -d 10.96.0.") == 3 + 1
    assert ":KUBE-POSTROUTING" not in text


async def test_nothing_changed_runs_no_restore(proxy: Proxier) -> None:
    await proxy.sync()
    proxy.set_endpoints(endpoints("s1", "10.244.0.1"))  # an update that changes nothing
    stats = await proxy.sync()
    assert stats.written == 0 and stats.deleted_chains == 0
    assert len(recording(proxy).restores) == 1


async def test_periodic_full_sync_trusts_its_bookkeeping_and_reinserts_hooks(
        proxy: Proxier) -> None:
    backend = recording(proxy)
    await proxy.sync()
    assert backend.saves == 1  # first sync: kernel state unknown
    proxy.delete_service(service("s1", "10.96.0.1"))
    stats = await proxy.sync(full=True)
    text = backend.restores[-1]
    assert stats.full and backend.saves == 1
    assert text.index("-D PREROUTING") < text.index("-I PREROUTING")
    assert stats.deleted_chains == 2 and text.count("-X KUBE-") == 2


async def test_full_sync_reads_the_kernel_when_its_bookkeeping_was_wrong(
        proxy: Proxier) -> None:
    backend = recording(proxy)
    await proxy.sync()
    backend.fail_next = True  # e.g. someone deleted a hook
    stats = await proxy.sync(full=True)
    assert stats.full and backend.saves == 2
    text = backend.restores[-1]
    assert "-D PREROUTING" not in text and "-I PREROUTING" in text


async def test_deleted_service_chains_are_deleted(proxy: Proxier) -> None:
    await proxy.sync()
    before = declared(recording(proxy).restores[-1])
    proxy.delete_service(service("s1", "10.96.0.1"))
    stats = await proxy.sync()
    text = recording(proxy).restores[-1]
    gone = {line[3:] for line in text.splitlines() if line.startswith("-X ")}
    assert stats.deleted_chains == 2 and gone < before
    assert "10.96.0.1 " not in text


async def test_full_sync_deletes_stale_chains_found_in_the_kernel(proxy: Proxier) -> None:
    backend = recording(proxy)
    backend.saved["nat"] = ("*nat\n:KUBE-SVC-LEFTOVERFROMBEFORE - [0:0]\n:DOCKER - [0:0]\n"
                            "-A PREROUTING -m comment --comment x -j KUBE-SERVICES\nCOMMIT\n")
    await proxy.sync()
    text = backend.restores[-1]
    assert "-X KUBE-SVC-LEFTOVERFROMBEFORE" in text and "DOCKER" not in text
    assert "-I PREROUTING" not in text and "-I OUTPUT -m comment" in text


async def test_a_failed_restore_forces_a_full_sync(proxy: Proxier) -> None:
    await proxy.sync()
    recording(proxy).fail_next = True
    proxy.set_endpoints(endpoints("s1", "10.244.0.9"))
    with pytest.raises(IptablesError):
        await proxy.sync()
    stats = await proxy.sync()
    assert stats.full and stats.written == 2


async def test_service_without_endpoints_rejects(proxy: Proxier) -> None:
    proxy.set_endpoints(endpoints("s1"))
    await proxy.sync()
    text = recording(proxy).restores[-1]
    assert '"ns/s1:p has no endpoints"' in text and "-d 10.96.0.1 --dport 80 -j REJECT" in text


async def test_removed_udp_endpoint_flows_are_flushed(monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[list[str]] = []

    async def record(flushes: list[Any], netns: str | None) -> None:
        flushed.extend(f.argv() for f in flushes)

    monkeypatch.setattr(proxier_mod, "flush", record)
    p = Proxier(client=None, settings=ProxySettings())
    p.backend = cast(Backend, RecordingBackend())  # duck-typed: save, restore, restoring
    p.set_service(service("dns", "10.96.0.53", proto="UDP", node_port=30053))
    p.set_endpoints(endpoints("dns"))
    await p.sync()
    p.set_endpoints(endpoints("dns", "10.244.0.5", "10.244.0.6"))
    await p.sync()
    assert flushed == [["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.53"],
                       ["conntrack", "-D", "-p", "udp", "--orig-port-dst", "30053"]]
    flushed.clear()
    p.set_endpoints(endpoints("dns", "10.244.0.6"))
    await p.sync()
    assert flushed == [
        ["conntrack", "-D", "-p", "udp", "--orig-dst", "10.96.0.53", "--dst-nat", "10.244.0.5"],
        ["conntrack", "-D", "-p", "udp", "--orig-port-dst", "30053", "--dst-nat", "10.244.0.5"]]



async def test_above_1000_endpoints_nat_rules_take_their_lean_form(proxy: Proxier) -> None:
    await proxy.sync()
    assert '--comment "ns/s1:p -> 10.244.0.1:8080"' in recording(proxy).restores[-1]
    proxy.set_endpoints(endpoints("s2", *(f"10.245.{i // 250}.{i % 250}" for i in range(1000))))
    stats = await proxy.sync()
    text = recording(proxy).restores[-1]
    assert stats.full  # every chain re-rendered in the new shape
    service_rules = [line for line in text.split("*nat\n")[1].splitlines()
                     if line.startswith(("-A KUBE-SVC-", "-A KUBE-SEP-"))
                     or "-j KUBE-SVC-" in line]
    assert len(service_rules) == 2 + (2 + 2) + (1 + 1000 + 2 * 1000)  # KUBE-SERVICES, s1, s2
    assert not [line for line in service_rules if "-m comment" in line]
    assert "-p tcp -j DNAT --to-destination 10.244.0.1:8080" in text
    assert "-m tcp -p tcp -j DNAT" not in text


async def test_loop_outlives_a_sync_that_cannot_start_its_tools(proxy: Proxier) -> None:
    """Under memory or pid pressure fork fails (OSError): the loop logs, retries on its own
    (no further change needed) and keeps running, rather than ending the proxy."""
    backend = recording(proxy)
    attempts = 0

    def apply(text: str) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        backend.restores.append(text)

    backend.apply = apply  # type: ignore[method-assign]  # fails once, then records
    loop = asyncio.create_task(proxy.loop())
    try:
        deadline = asyncio.get_running_loop().time() + 3
        while not backend.restores:
            assert not loop.done() and asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert attempts == 2 and proxy.last_sync is not None and proxy.last_sync.full
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


class EventSink:
    """The ApiClient seam the proxy's EventRecorder writes Events through."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def create(self, _resource: Any, event: dict[str, Any], _ns: str) -> dict[str, Any]:
        self.events.append(event)
        return event


async def test_a_service_it_cannot_render_is_skipped_with_an_event_and_the_rest_syncs(
        proxy: Proxier) -> None:
    sink = EventSink()
    p = Proxier(client=sink, settings=ProxySettings(flush_udp_conntrack=False))
    p.backend = proxy.backend
    p.set_service(service("good", "10.96.0.7"))
    p.set_service(service("v6", "fd00::7"))
    mixed = service("mixed", "10.96.0.8")
    mixed["spec"]["externalIPs"] = ["2001:db8::1", "203.0.113.9"]
    p.set_service(mixed)
    p.set_service(mixed)  # one Event per distinct problem, not one per update
    await p.sync()
    text = recording(proxy).restores[-1]
    assert "ns/good" in text and "203.0.113.9" in text
    assert "fd00::7" not in text and "2001:db8::1" not in text
    await asyncio.sleep(0)  # the Events are recorded in the background
    assert [(e["involvedObject"]["name"], e["type"], e["reason"]) for e in sink.events] == [
        ("v6", "Warning", "FailedToProgramService"), ("mixed", "Warning", "FailedToProgramService")]
    assert "clusterIP fd00::7 is not an IPv4 address" in sink.events[0]["message"]
    assert sink.events[1]["message"].endswith("left out by kube-proxy: 2001:db8::1")


@pytest.mark.parametrize("change", [
    lambda s: s["spec"].update(type="LoadBalancer", loadBalancerSourceRanges=["2001:db8::/32"]),
    lambda s: s["spec"].update(sessionAffinity="ClientIP", sessionAffinityConfig={
        "clientIP": {"timeoutSeconds": 86401}}),
    lambda s: s["spec"]["ports"][0].update(port=70000),
    lambda s: s["spec"]["ports"][0].pop("port"),
])
def test_what_cannot_be_rendered_at_all(proxy: Proxier, change: Callable[[Any], None]) -> None:
    bad = service("bad", "10.96.0.9")
    change(bad)
    bad.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": "198.51.100.1"}]}
    proxy.set_service(bad)
    assert proxy._ports["ns/bad"] == [] and "ns/bad" in proxy._warned
