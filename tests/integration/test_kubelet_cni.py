"""The kubelet's CNI executor against plugin executables that record what they were given:
chaining (prevResult), capabilities as runtimeConfig, CNI_ARGS, DEL in reverse with the
cached result, and rollback of a failed ADD."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.cni import CNI, PodRef
from agent.kubelet.errors import CNIError

RECORDER = """#!/bin/sh
# A CNI plugin that appends its command, env and stdin to $LOG and answers with a result.
conf=$(cat)
printf '%s\\n' "{\\"cmd\\": \\"$CNI_COMMAND\\", \\"args\\": \\"$CNI_ARGS\\", \\"ifname\\": \\"$CNI_IFNAME\\", \\"conf\\": $conf}" >> {log}
if [ "$CNI_COMMAND" = ADD ]; then
  case "$conf" in *'"fail": true'*)
    echo '{"cniVersion": "1.0.0", "code": 11, "msg": "told to fail"}'; exit 1;; esac
  echo '{"cniVersion": "1.0.0", "ips": [{"address": "{ip}/24"}]}'
fi
"""


def plugin(bin_dir: Path, name: str, log: Path, ip: str) -> None:
    path = bin_dir / name
    path.write_text(RECORDER.replace("{log}", str(log)).replace("{ip}", ip))
    path.chmod(0o755)


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[CNI, Path, Path]:
    bin_dir, conf_dir, log = tmp_path / "bin", tmp_path / "conf", tmp_path / "calls.log"
    bin_dir.mkdir()
    conf_dir.mkdir()
    plugin(bin_dir, "first", log, "10.9.0.2")
    plugin(bin_dir, "second", log, "10.9.0.3")
    return CNI(conf_dir, [str(tmp_path / "nothing-here"), str(bin_dir)], tmp_path / "state"), \
        conf_dir, log


def write_conf(conf_dir: Path, second: dict[str, Any]) -> None:
    (conf_dir / "10-t.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "t", "plugins": [
            {"type": "first", "capabilities": {"portMappings": True}}, second]}))


async def test_add_chains_and_del_reverses(setup: tuple[CNI, Path, Path]) -> None:
    cni, conf_dir, log = setup
    write_conf(conf_dir, {"type": "second"})
    ports = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    pod = PodRef("ns", "web", "sandbox123")
    result = await cni.add(pod, "/proc/1/ns/net", capabilities=ports)
    assert result["ips"][0]["address"] == "10.9.0.3/24"
    first, second = calls(log)
    assert first["conf"]["runtimeConfig"] == ports and "runtimeConfig" not in second["conf"]
    assert "prevResult" not in first["conf"]
    assert second["conf"]["prevResult"]["ips"][0]["address"] == "10.9.0.2/24"
    assert "K8S_POD_NAME=web" in first["args"] and first["ifname"] == "eth0"
    assert first["conf"]["name"] == "t" and first["conf"]["cniVersion"] == "1.0.0"
    assert cni.cached_result("sandbox123") == result
    await cni.delete(pod, "")
    dels = calls(log)[2:]
    assert [d["cmd"] for d in dels] == ["DEL", "DEL"]
    assert [d["conf"]["type"] for d in dels] == ["second", "first"]
    assert dels[0]["conf"]["prevResult"] == result and dels[1]["conf"]["runtimeConfig"] == ports
    assert cni.cached_result("sandbox123") is None
    await cni.delete(pod, "")  # idempotent: no cache, DEL again with the current config


async def test_failed_add_is_rolled_back_with_the_plugin_error(
        setup: tuple[CNI, Path, Path]) -> None:
    cni, conf_dir, log = setup
    write_conf(conf_dir, {"type": "second", "fail": True})
    with pytest.raises(CNIError) as err:
        await cni.add(PodRef("ns", "web", "sb2"), "/proc/1/ns/net")
    assert (err.value.plugin, err.value.code, err.value.msg) == ("second", 11, "told to fail")
    assert [c["cmd"] for c in calls(log)] == ["ADD", "ADD", "DEL", "DEL"]
    assert cni.cached_result("sb2") is None


async def test_missing_plugin_is_named(setup: tuple[CNI, Path, Path]) -> None:
    cni, conf_dir, _ = setup
    write_conf(conf_dir, {"type": "nosuch"})
    with pytest.raises(CNIError, match='failed to find plugin "nosuch"'):
        await cni.add(PodRef("ns", "web", "sb3"), "/proc/1/ns/net")
