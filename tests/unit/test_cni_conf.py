"""CNI input handling: environment, config validation, version negotiation, results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni_plugins.conf import parse_env, parse_netconf
from cni_plugins.errors import CniError
from cni_plugins.plugin import run
from cni_plugins.result import convert, merge

BASE_ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x",
            "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}


def conf(**over: object) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": "1.0.0", "name": "mkp", "type": "mkp-bridge",
                 "ipam": {"type": "mkp-local", "subnet": "10.244.3.0/24", "dataDir": "/tmp/x"}}
    out.update(over)
    return out


def error_of(env: dict[str, Any], stdin: bytes) -> dict[str, Any]:
    rc, out = run(env, stdin)
    assert rc == 1
    error: dict[str, Any] = json.loads(out)
    return error


@pytest.mark.parametrize("missing", ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                     "CNI_IFNAME", "CNI_PATH"])
def test_missing_variable_is_code_4(missing: str) -> None:
    env = {k: v for k, v in BASE_ENV.items() if k != missing}
    err = error_of(env, json.dumps(conf()).encode())
    assert err["code"] == 4 and err["cniVersion"] == "1.0.0"


@pytest.mark.parametrize("env_over", [
    pytest.param({"CNI_COMMAND": "FROB"}, id="unknown-command"),
    pytest.param({"CNI_IFNAME": "a" * 16}, id="ifname-too-long"),
    pytest.param({"CNI_IFNAME": "et/h0"}, id="ifname-slash"),
    pytest.param({"CNI_CONTAINERID": "../etc"}, id="containerid-path"),
    pytest.param({"CNI_ARGS": "K8S_POD_NAME"}, id="args-not-pairs"),
])
def test_bad_environment_is_code_4(env_over: dict[str, Any]) -> None:
    assert error_of({**BASE_ENV, **env_over}, json.dumps(conf()).encode())["code"] == 4


def test_del_does_not_need_netns() -> None:
    env = parse_env({**{k: v for k, v in BASE_ENV.items() if k != "CNI_NETNS"},
                     "CNI_COMMAND": "DEL", "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=p"})
    assert env.netns == "" and env.args == {"IgnoreUnknown": "1", "K8S_POD_NAME": "p"}


@pytest.mark.parametrize("stdin", [b"{not json", b"[1, 2]", b""])
def test_undecodable_config_is_code_6(stdin: bytes) -> None:
    assert error_of(BASE_ENV, stdin)["code"] == 6


@pytest.mark.parametrize("version", ["0.2.0", "0.1.0", "2.0.0", "banana"])
def test_unsupported_version_is_code_1(version: str) -> None:
    assert error_of(BASE_ENV, json.dumps(conf(cniVersion=version)).encode())["code"] == 1


@pytest.mark.parametrize("over,field", [
    pytest.param({"cniVersion": None}, "cniVersion", id="no-version"),
    pytest.param({"name": "bad/name"}, "name", id="name"),
    pytest.param({"ipam": None}, "ipam", id="no-ipam"),
    pytest.param({"ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}, "ipam.type",
                 id="foreign-ipam"),
    pytest.param({"ipam": {"type": "mkp-local", "subnet": "10.0.0.0/33"}}, "ipam.subnet",
                 id="subnet"),
    pytest.param({"ipam": {"type": "mkp-local", "subnet": "10.0.0.0/24",
                           "rangeStart": "10.0.1.5"}}, "ipam.rangeStart", id="range-outside"),
    pytest.param({"ipam": {"type": "mkp-local", "subnet": "10.0.0.0/24",
                           "routes": [{"dst": "x"}]}}, "ipam.routes[0].dst", id="route"),
    pytest.param({"ipam": {"type": "mkp-local", "subnet": "10.0.0.0/24",
                           "dataDir": "relative"}}, "ipam.dataDir", id="datadir"),
    pytest.param({"mtu": "1450"}, "mtu", id="mtu-type"),
    pytest.param({"bridge": "x" * 16}, "bridge", id="bridge-name"),
])
def test_invalid_config_is_code_7_naming_the_field(over: dict[str, Any], field: str) -> None:
    err = error_of(BASE_ENV, json.dumps(conf(**over)).encode())
    assert err["code"] == 7
    assert field in err["msg"]


def test_defaults() -> None:
    c = parse_netconf(conf())
    assert (str(c.gateway), str(c.range_start), str(c.range_end)) == (
        "10.244.3.1", "10.244.3.1", "10.244.3.254")
    assert c.mtu == 1450 and c.bridge == "cni0" and c.hairpin
    assert [str(r.dst) for r in c.routes] == ["0.0.0.0/0"]


def test_version_lists_all_and_echoes_request() -> None:
    rc, out = run({"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "0.4.0"}')
    assert rc == 0
    assert json.loads(out) == {"cniVersion": "0.4.0", "supportedVersions": [
        "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}
    rc, out = run({"CNI_COMMAND": "VERSION"}, b"")
    assert rc == 0 and json.loads(out)["cniVersion"] == "1.1.0"


@pytest.mark.parametrize("command,version", [("CHECK", "0.3.1"), ("GC", "1.0.0"),
                                             ("STATUS", "1.0.0")])
def test_command_newer_than_config_is_code_1(command: str, version: str) -> None:
    env = {**BASE_ENV, "CNI_COMMAND": command}
    assert error_of(env, json.dumps(conf(cniVersion=version)).encode())["code"] == 1


RESULT = {"interfaces": [{"name": "cni0", "mac": "0a:58:0a:f4:03:01"},
                         {"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": "/n", "mtu": 1450}],
          "ips": [{"address": "10.244.3.2/24", "gateway": "10.244.3.1", "interface": 1}],
          "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.3.1"}], "dns": {}}


@pytest.mark.parametrize("version,ip_version,mtu", [
    ("0.3.0", "4", False), ("0.3.1", "4", False), ("0.4.0", "4", False),
    ("1.0.0", None, False), ("1.1.0", None, True)])
def test_result_converted_per_version(version: str, ip_version: str | None, mtu: bool) -> None:
    out = convert(RESULT, version)
    assert out["cniVersion"] == version
    assert out["ips"][0].get("version") == ip_version
    assert ("mtu" in out["interfaces"][1]) is mtu
    assert "dns" not in out


def test_merge_shifts_our_interface_indexes() -> None:
    prev = {"cniVersion": "0.4.0", "interfaces": [{"name": "lo0"}],
            "ips": [{"version": "4", "address": "1.2.3.4/32", "interface": 0}], "routes": []}
    out = merge(prev, RESULT)
    assert [i["name"] for i in out["interfaces"]] == ["lo0", "cni0", "eth0"]
    assert [(ip["address"], ip["interface"]) for ip in out["ips"]] == [
        ("1.2.3.4/32", 0), ("10.244.3.2/24", 2)]
    assert "version" not in out["ips"][0]


def test_errors_carry_code_msg_details() -> None:
    assert CniError(11, "full", "range x").to_json("1.0.0") == {
        "cniVersion": "1.0.0", "code": 11, "msg": "full", "details": "range x"}
