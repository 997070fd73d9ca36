"""Wire formats: exec channel frames, Docker's stream demux, CNI configs and results,
and the atomic writer behind configMap/secret volumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.kubelet import channels as ch
from agent.kubelet.cni import load_network, pod_ips
from agent.kubelet.errors import CNIError
from agent.kubelet.sandbox import capabilities


def test_exit_status_carries_the_code_as_kubectl_reads_it() -> None:
    assert ch.exit_status(0)["status"] == "Success"
    st = ch.exit_status(7)
    assert st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    channel, body = ch.decode(ch.status_frame(st), base64_text=False)
    assert channel == ch.ERROR and json.loads(body) == st


def test_base64_channel_messages_are_text_with_an_ascii_digit() -> None:
    """v4.base64.channel.k8s.io as apimachinery's wsstream base64Codec frames it."""
    assert ch.encode(ch.STDOUT, b"hi\n", base64_text=True) == "1aGkK"
    assert ch.encode(ch.STDERR, b"", base64_text=True) == "2"
    assert ch.encode(ch.STDOUT, b"hi\n", base64_text=False) == b"\x01hi\n"
    assert ch.decode("0aGkK", base64_text=True) == (ch.STDIN, b"hi\n")
    assert ch.decode(b"4eyJXaWR0aCI6MX0=", base64_text=True) == (ch.RESIZE, b'{"Width":1}')
    assert ch.decode("\x00raw", base64_text=False) == (ch.STDIN, b"raw")  # Python client
    status = ch.status_frame(ch.exit_status(2), base64_text=True)
    assert isinstance(status, str) and status[0] == "3"
    assert json.loads(ch.decode(status, base64_text=True)[1])["details"]["causes"] == [
        {"reason": "ExitCode", "message": "2"}]
    for bad in ("0not base64!", ""):
        with pytest.raises(ValueError):
            ch.decode(bad, base64_text=True)


def test_docker_demux_handles_split_frames() -> None:
    raw = bytes([1, 0, 0, 0, 0, 0, 0, 3]) + b"out" + bytes([2, 0, 0, 0, 0, 0, 0, 2]) + b"er"
    d = ch.DockerDemux()
    assert d.feed(raw[:5]) == []
    assert d.feed(raw[5:13]) == [(1, b"out")]
    assert d.feed(raw[13:]) == [(2, b"er")]


def test_load_network_picks_the_first_file_and_wraps_a_single_conf(tmp_path: Path) -> None:
    (tmp_path / "20-b.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "b",
                                                       "plugins": [{"type": "x"}]}))
    (tmp_path / "10-a.conf").write_text(json.dumps({"cniVersion": "0.4.0", "name": "a",
                                                   "type": "bridge"}))
    net = load_network(tmp_path)
    assert net["name"] == "a" and net["plugins"] == [{"cniVersion": "0.4.0", "name": "a",
                                                      "type": "bridge"}]


@pytest.mark.parametrize("content, message", [
    pytest.param(None, "no network configuration", id="empty-dir"),
    pytest.param("{not json", "cannot read", id="bad-json"),
    pytest.param('{"cniVersion": "1.0.0", "name": "x", "plugins": []}', "no plugins",
                 id="no-plugins"),
])
def test_load_network_errors(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "10.conflist").write_text(content)
    with pytest.raises(CNIError, match=message):
        load_network(tmp_path)


def test_pod_ips_from_results_of_each_version() -> None:
    assert pod_ips({"ips": [{"address": "fd00::5/64"}, {"address": "10.1.0.5/24"}]}) == [
        "10.1.0.5", "fd00::5"]
    assert pod_ips({"ip4": {"ip": "10.2.0.9/24"}}) == ["10.2.0.9"]
    assert pod_ips({}) == []


def test_host_ports_become_port_mappings() -> None:
    pod = {"spec": {"containers": [{"name": "a", "ports": [
        {"containerPort": 80, "hostPort": 8080},
        {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
        {"containerPort": 9090}]}]}}
    assert capabilities(pod) == {"portMappings": [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""},
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}]}
    assert capabilities({"spec": {"containers": [{"name": "a"}]}}) == {}
