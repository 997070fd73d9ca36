"""Host-local style IPAM on a real directory: uniqueness, order, restarts, GC, exhaustion."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cni_plugins import ipam
from cni_plugins.conf import NetConf, parse_netconf
from cni_plugins.errors import CniError


def make_conf(tmp_path: Path, subnet: str = "10.244.9.0/24", **ipam_over: str) -> NetConf:
    return parse_netconf({"cniVersion": "1.0.0", "name": "net1", "type": "mkp-bridge",
                          "ipam": {"type": "mkp-local", "subnet": subnet,
                                   "dataDir": str(tmp_path), **ipam_over}})


def test_first_lease_skips_gateway_and_is_on_disk_in_host_local_layout(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    ip = ipam.allocate(conf, "ctr1", "eth0")
    assert str(ip) == "10.244.9.2"
    assert (tmp_path / "net1" / "10.244.9.2").read_bytes() == b"ctr1\r\neth0"
    assert (tmp_path / "net1" / "last_reserved_ip.0").read_text() == "10.244.9.2"


def test_round_robin_does_not_reuse_a_just_released_address(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    a = ipam.allocate(conf, "a", "eth0")
    assert ipam.release(conf, "a", "eth0") == [a]
    b = ipam.allocate(conf, "b", "eth0")
    assert b == a + 1


def test_fifty_concurrent_allocations_are_distinct(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    with ThreadPoolExecutor(50) as pool:
        ips = list(pool.map(lambda i: ipam.allocate(conf, f"c{i}", "eth0"), range(50)))
    assert len(set(ips)) == 50
    assert all(ip in conf.subnet and ip != conf.gateway for ip in ips)


def test_leases_survive_a_restart(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    first = ipam.allocate(conf, "a", "eth0")
    reloaded = make_conf(tmp_path)  # a new process reads the same directory
    assert ipam.lookup(reloaded, "a", "eth0") == [first]
    assert ipam.allocate(reloaded, "b", "eth0") != first


def test_exhausted_range_is_code_11_and_leaves_nothing(tmp_path: Path) -> None:
    conf = make_conf(tmp_path, subnet="10.244.9.0/29")  # .2 - .6 after the gateway
    got = [ipam.allocate(conf, f"c{i}", "eth0") for i in range(5)]
    assert [str(ip) for ip in got] == [f"10.244.9.{i}" for i in range(2, 7)]
    with pytest.raises(CniError) as err:
        ipam.allocate(conf, "late", "eth0")
    assert err.value.code == 11 and "no IP addresses available" in err.value.msg
    assert ipam.lookup(conf, "late", "eth0") == []


def test_duplicate_attachment_is_refused(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    ipam.allocate(conf, "a", "eth0")
    with pytest.raises(CniError):
        ipam.allocate(conf, "a", "eth0")
    assert ipam.allocate(conf, "a", "net1") is not None  # another interface is fine


def test_release_of_unknown_attachment_is_a_no_op(tmp_path: Path) -> None:
    assert ipam.release(make_conf(tmp_path), "ghost", "eth0") == []


def test_gc_keeps_only_valid_attachments(tmp_path: Path) -> None:
    conf = make_conf(tmp_path)
    for name in ("keep", "drop1", "drop2"):
        ipam.allocate(conf, name, "eth0")
    stale = ipam.gc(conf, {("keep", "eth0")})
    assert len(stale) == 2
    assert [lease.container_id for lease in ipam.LeaseStore(str(tmp_path), "net1").leases()] \
        == ["keep"]


def test_range_limits_are_honoured(tmp_path: Path) -> None:
    conf = make_conf(tmp_path, rangeStart="10.244.9.100", rangeEnd="10.244.9.101")
    got = {ipam.allocate(conf, f"c{i}", "eth0") for i in range(2)}
    assert got == {ipaddress.IPv4Address("10.244.9.100"), ipaddress.IPv4Address("10.244.9.101")}
    assert sorted(os.listdir(tmp_path / "net1")) == [
        "10.244.9.100", "10.244.9.101", "last_reserved_ip.0", "lock"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=40))
def test_random_adds_and_dels_never_share_an_address(ops: list[tuple[bool, int]]) -> None:
    """Any interleaving of ADD/DEL keeps one lease per attachment and no address twice."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = make_conf(Path(tmp), subnet="10.244.9.0/28")  # 13 addresses for 10 pods
        live: dict[str, ipaddress.IPv4Address] = {}
        for add, n in ops:
            pod = f"pod{n}"
            if add and pod not in live:
                live[pod] = ipam.allocate(conf, pod, "eth0")
            elif not add:
                assert ipam.release(conf, pod, "eth0") == ([live.pop(pod)] if pod in live else [])
            assert len(set(live.values())) == len(live)
        leases = ipam.LeaseStore(tmp, "net1").leases()
        assert {lease.container_id: lease.ip for lease in leases} == live
