"""The CNI plugin against the real kernel: ADD/CHECK/DEL/GC/STATUS in throwaway namespaces."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fixtures.netns import CniNode, Netns

pytestmark = pytest.mark.root


def test_add_wires_the_container_to_the_bridge(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    ctr = netns("ctr")
    rc, res = cni_node.call("ADD", container_id="c1", netns=ctr.path)
    assert rc == 0, res
    assert res["cniVersion"] == "1.0.0"
    assert [i["name"] for i in res["interfaces"]][0::2] == ["cni0", "eth0"]
    assert res["interfaces"][2]["sandbox"] == ctr.path
    assert res["ips"] == [{"address": "10.244.77.2/24", "gateway": "10.244.77.1", "interface": 2}]
    assert res["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.244.77.1"}]

    link = ctr.run("ip", "-j", "addr", "show", "eth0").stdout
    eth0 = json.loads(link)[0]
    assert eth0["mtu"] == 1450 and eth0["address"] == res["interfaces"][2]["mac"]
    assert ("10.244.77.2", 24) in {(a["local"], a["prefixlen"]) for a in eth0["addr_info"]}
    assert "default via 10.244.77.1 dev eth0" in ctr.run("ip", "route").stdout

    host_veth = res["interfaces"][1]["name"]
    port = cni_node.ns.run("ip", "-d", "-j", "link", "show", host_veth).stdout
    info = json.loads(port)[0]
    assert info["master"] == "cni0" and info["linkinfo"]["info_slave_data"]["hairpin"] is True
    assert "10.244.77.1/24" in cni_node.ns.run("ip", "addr", "show", "cni0").stdout
    assert cni_node.ns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert ctr.ping("10.244.77.1")


def test_two_containers_on_one_bridge_reach_each_other(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    a, b = netns("a"), netns("b")
    assert cni_node.call("ADD", container_id="a", netns=a.path)[0] == 0
    rc, res = cni_node.call("ADD", container_id="b", netns=b.path)
    assert rc == 0
    b_ip = res["ips"][0]["address"].split("/")[0]
    assert a.ping(b_ip)


def test_bridge_mac_is_fixed_as_pods_come_and_go(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    macs = {cni_node.call("ADD", container_id=f"c{i}", netns=netns("c").path)[1]
            ["interfaces"][0]["mac"] for i in range(3)}
    assert macs == {"0a:58:0a:f4:4d:01"}


def test_add_of_an_existing_interface_fails_and_changes_nothing(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    ctr = netns("ctr")
    ctr.run("ip", "link", "add", "eth0", "type", "bridge")  # no dummy module here
    rc, err = cni_node.call("ADD", container_id="c1", netns=ctr.path)
    assert rc == 1 and "already exists" in err["msg"]
    assert "bridge" in ctr.run("ip", "-d", "link", "show", "eth0").stdout
    assert not os.path.exists(os.path.join(cni_node.data_dir, "mkp-test", "10.244.77.2"))


def test_add_into_missing_netns_is_code_3(cni_node: CniNode) -> None:
    rc, err = cni_node.call("ADD", container_id="c1", netns="/run/netns/mkpt-nope")
    assert rc == 1 and err["code"] == 3


def test_check_passes_then_fails_when_the_route_is_gone(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    ctr = netns("ctr")
    res = cni_node.call("ADD", container_id="c1", netns=ctr.path)[1]
    conf = cni_node.conf(prevResult=res)
    assert cni_node.call("CHECK", conf, container_id="c1", netns=ctr.path) == (0, None)
    ctr.run("ip", "route", "del", "default")
    rc, err = cni_node.call("CHECK", conf, container_id="c1", netns=ctr.path)
    assert rc == 1 and err["code"] == 100 and "route 0.0.0.0/0" in err["msg"]


def test_check_without_prev_result_is_code_7(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    rc, err = cni_node.call("CHECK", container_id="c1", netns=netns("c").path)
    assert rc == 1 and err["code"] == 7


def test_del_removes_link_and_lease_and_is_idempotent(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    ctr = netns("ctr")
    rc, res = cni_node.call("ADD", container_id="c1", netns=ctr.path)
    assert rc == 0
    host_veth = res["interfaces"][1]["name"]
    assert cni_node.call("DEL", container_id="c1", netns=ctr.path) == (0, None)
    assert "eth0" not in ctr.run("ip", "link").stdout
    assert cni_node.ns.run("ip", "link", "show", host_veth, check=False).returncode != 0
    assert not os.path.exists(os.path.join(cni_node.data_dir, "mkp-test", "10.244.77.2"))
    assert cni_node.call("DEL", container_id="c1", netns=ctr.path) == (0, None)


def test_del_after_the_netns_is_gone_still_releases(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    ctr = netns("ctr")
    assert cni_node.call("ADD", container_id="c1", netns=ctr.path)[0] == 0
    path = ctr.path
    ctr.remove()
    assert cni_node.call("DEL", container_id="c1", netns=path) == (0, None)
    assert cni_node.call("DEL", container_id="c1") == (0, None)  # no CNI_NETNS at all
    assert cni_node.call("ADD", container_id="c2", netns=netns("c2").path)[0] == 0


def test_gc_releases_leases_of_attachments_not_listed(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    for name in ("keep", "gone"):
        assert cni_node.call("ADD", container_id=name, netns=netns(name).path)[0] == 0
    conf = cni_node.conf(cniVersion="1.1.0", **{
        "cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}]})
    assert cni_node.call("GC", conf) == (0, None)
    leases = sorted(f for f in os.listdir(os.path.join(cni_node.data_dir, "mkp-test"))
                    if f[0].isdigit())
    assert leases == ["10.244.77.2"]


def test_status_ok_and_unavailable(cni_node: CniNode, tmp_path: Path) -> None:
    assert cni_node.call("STATUS", cni_node.conf(cniVersion="1.1.0")) == (0, None)
    blocker = tmp_path / "file"
    blocker.write_text("")
    conf = cni_node.conf(cniVersion="1.1.0", ipam={"dataDir": str(blocker)})
    rc, err = cni_node.call("STATUS", conf)
    assert rc == 1 and err["code"] == 50


def test_exhausted_range_is_code_11_and_undoes_nothing_else(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    conf = cni_node.conf(ipam={"rangeStart": "10.244.77.10", "rangeEnd": "10.244.77.11"})
    for i in range(2):
        assert cni_node.call("ADD", conf, container_id=f"c{i}", netns=netns("c").path)[0] == 0
    late = netns("late")
    rc, err = cni_node.call("ADD", conf, container_id="late", netns=late.path)
    assert rc == 1 and err["code"] == 11
    assert "eth0" not in late.run("ip", "link").stdout


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.1.0"])
def test_result_in_the_requested_version(
        cni_node: CniNode, netns: Callable[..., Netns], version: str) -> None:
    rc, res = cni_node.call("ADD", cni_node.conf(cniVersion=version), container_id="c",
                            netns=netns("c").path)
    assert rc == 0 and res["cniVersion"] == version
    assert ("version" in res["ips"][0]) is (version != "1.1.0")


def test_fifty_concurrent_adds_get_fifty_addresses(
        cni_node: CniNode, netns: Callable[..., Netns]) -> None:
    ctrs = [netns(f"c{i}") for i in range(50)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(
            lambda i: cni_node.call("ADD", container_id=f"c{i}", netns=ctrs[i].path), range(50)))
    assert [rc for rc, _ in results] == [0] * 50
    ips = {res["ips"][0]["address"] for _, res in results}
    assert len(ips) == 50
    for ctr, (_, res) in zip(ctrs[:3], results[:3]):
        assert res["ips"][0]["address"] in ctr.run("ip", "addr", "show", "eth0").stdout
