"""The installed executable as a runtime sees it: exec protocol, service, fallback, chaining."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cni_plugins.install import install
from tests.fixtures.netns import CniNode, Netns
from tests.helpers import first_line, nc_listener

pytestmark = pytest.mark.root


def exec_plugin(node: Netns, plugin: Path, env: dict[str, str], conf: dict[str, Any],
                ) -> tuple[int, dict[str, Any] | None, str]:
    """Exec a plugin in the node namespace exactly as the CNI spec tells a runtime to."""
    proc = subprocess.run(["ip", "netns", "exec", node.name, str(plugin)],
                          input=json.dumps(conf).encode(), capture_output=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **env}, check=False)
    out = proc.stdout.decode()
    return proc.returncode, json.loads(out) if out else None, proc.stderr.decode()


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    return install(str(tmp_path / "bin"))


def start_service(node: Netns, socket_path: str, log: Path) -> None:
    with log.open("w") as err:
        node.popen(sys.executable, "-m", "cni_plugins.service", "--socket", socket_path,
                   stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 20
    while not os.path.exists(socket_path):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def assert_distinct_concurrent_adds(
        cni_node: CniNode, netns: Callable[..., Netns], plugin: Path, conf: dict[str, Any], *,
        count: int) -> None:
    """`count` ADDs exec'd at once, each into its own netns, all succeed with distinct IPs
    (the IPAM lease lock holds across processes)."""
    ctrs = [netns(f"c{i}") for i in range(count)]
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(lambda i: exec_plugin(
            cni_node.ns, plugin, cni_node.env("ADD", container_id=f"c{i}", netns=ctrs[i].path),
            conf), range(count)))
    assert [r[0] for r in results] == [0] * count, [r[1] for r in results if r[0]]
    assert len({r[1]["ips"][0]["address"] for r in results if r[1]}) == count


def test_shim_runs_in_process_when_no_service_answers(
        cni_node: CniNode, netns: Callable[..., Netns], plugin: Path, tmp_path: Path) -> None:
    ctr = netns("ctr")
    conf = cni_node.conf(socket=str(tmp_path / "nobody.sock"))
    env = cni_node.env("ADD", container_id="c1", netns=ctr.path)
    rc, res, _ = exec_plugin(cni_node.ns, plugin, env, conf)
    assert rc == 0 and res and res["ips"][0]["address"] == "10.244.77.2/24"
    rc, res, _ = exec_plugin(cni_node.ns, plugin, {**env, "CNI_COMMAND": "DEL"}, conf)
    assert (rc, res) == (0, None)


def test_shim_forwards_to_the_service(cni_node: CniNode, netns: Callable[..., Netns], plugin: Path,
                                      tmp_path: Path) -> None:
    sock, log = str(tmp_path / "svc" / "cni.sock"), tmp_path / "svc.log"
    start_service(cni_node.ns, sock, log)
    ctr = netns("ctr")
    conf = cni_node.conf(socket=sock)
    rc, res, _ = exec_plugin(cni_node.ns, plugin,
                             cni_node.env("ADD", container_id="via-svc", netns=ctr.path), conf)
    assert rc == 0 and res, res
    assert res["ips"][0]["address"] in ctr.run("ip", "addr", "show", "eth0").stdout
    assert "cni add container=via-svc" in log.read_text()
    rc, err, stderr = exec_plugin(cni_node.ns, plugin,
                                  cni_node.env("ADD", container_id="via-svc", netns=ctr.path),
                                  conf)
    assert rc == 1 and err and err["code"] == 102 and stderr == ""


def test_service_in_another_netns_is_not_used(
        cni_node: CniNode, netns: Callable[..., Netns], plugin: Path, tmp_path: Path) -> None:
    other = netns("other")
    sock, log = str(tmp_path / "cni.sock"), tmp_path / "svc.log"
    start_service(other, sock, log)
    ctr = netns("ctr")
    rc, res, _ = exec_plugin(cni_node.ns, plugin,
                             cni_node.env("ADD", container_id="c1", netns=ctr.path),
                             cni_node.conf(socket=sock))
    assert rc == 0, res
    assert "cni0" in cni_node.ns.run("ip", "link").stdout
    assert "cni0" not in other.run("ip", "link").stdout
    assert "cni add" not in log.read_text()


@pytest.mark.parametrize("stdin,code", [(b"{oops", 6), (b'{"cniVersion": "0.2.0"}', 1)])
def test_errors_through_the_executable(cni_node: CniNode, plugin: Path, stdin: bytes,
                                       code: int) -> None:
    proc = subprocess.run([str(plugin)], input=stdin, capture_output=True, check=False,
                          env={"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "x", "CNI_NETNS": "/x",
                               "CNI_IFNAME": "eth0", "CNI_PATH": "/x"})
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["code"] == code


def test_version_through_the_executable(plugin: Path) -> None:
    proc = subprocess.run([str(plugin)], input=b'{"cniVersion":"1.0.0"}', capture_output=True,
                          env={"CNI_COMMAND": "VERSION"}, check=True)
    assert json.loads(proc.stdout)["supportedVersions"][-2:] == ["1.0.0", "1.1.0"]


def test_fifty_concurrent_execs_against_the_service(
        cni_node: CniNode, netns: Callable[..., Netns], plugin: Path, tmp_path: Path) -> None:
    sock = str(tmp_path / "cni.sock")
    start_service(cni_node.ns, sock, tmp_path / "svc.log")
    conf = cni_node.conf(socket=sock)
    assert_distinct_concurrent_adds(cni_node, netns, plugin, conf, count=50)


def test_chains_with_the_reference_portmap(
        cni_node: CniNode, netns: Callable[..., Netns], plugin: Path) -> None:
    """Our result is portmap's prevResult; portmap passes it on and DNATs to our address."""
    ctr = netns("ctr")
    env = cni_node.env("ADD", container_id="pm1", netns=ctr.path)
    rc, ours, _ = exec_plugin(cni_node.ns, plugin, env, cni_node.conf())
    assert rc == 0 and ours
    pm_conf = {"cniVersion": "1.0.0", "name": "mkp-test", "type": "portmap",
               "capabilities": {"portMappings": True}, "prevResult": ours,
               "runtimeConfig": {"portMappings": [
                   {"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]}}
    rc, chained, err = exec_plugin(cni_node.ns, Path("/usr/lib/cni/portmap"), env, pm_conf)
    assert rc == 0 and chained, err
    assert chained["ips"] == ours["ips"] and chained["interfaces"] == ours["interfaces"]
    ip = ours["ips"][0]["address"].split("/")[0]
    rules = cni_node.ns.run("iptables-save", "-t", "nat").stdout
    assert f"--to-destination {ip}:80" in rules
    server = ctr.popen(*nc_listener(80), stdout=subprocess.PIPE)
    ctr.wait_listening(80)
    cni_node.ns.run("sh", "-c", "echo hello-through-portmap | busybox nc -w 2 10.244.77.1 18080",
                    check=False)
    assert first_line(server) == "hello-through-portmap"
    rc, _, err = exec_plugin(cni_node.ns, Path("/usr/lib/cni/portmap"),
                             {**env, "CNI_COMMAND": "DEL"}, pm_conf)
    assert rc == 0, err
    assert f"{ip}:80" not in cni_node.ns.run("iptables-save", "-t", "nat").stdout


def test_concurrent_in_process_fallbacks_share_the_lease_lock(
        cni_node: CniNode, netns: Callable[..., Netns], plugin: Path, tmp_path: Path) -> None:
    """Without a service every call is its own process; the flock still serialises IPAM."""
    conf = cni_node.conf(socket=str(tmp_path / "nobody.sock"))
    assert_distinct_concurrent_adds(cni_node, netns, plugin, conf, count=8)
