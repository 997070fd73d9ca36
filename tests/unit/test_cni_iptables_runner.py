"""Which iptables backend each kind of rule goes to, decided once per host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from cni_plugins import iptables_runner as runner
from cni_plugins.iptables_runner import Backend, IptablesError


@pytest.fixture(autouse=True)
def fresh_choices() -> Iterator[None]:
    """The choices are cached per process; each test starts with none made."""
    for cached in (runner.choose, runner.firewall, runner._path_mode):
        cached.cache_clear()
    yield
    for cached in (runner.choose, runner.firewall, runner._path_mode):
        cached.cache_clear()


@pytest.mark.parametrize(("version", "mode"), [
    ("iptables v1.8.9 (nf_tables)\n", "nft"),
    ("iptables v1.8.9 (legacy)\n", "legacy"),
    ("iptables v1.6.1\n", "legacy"),  # before 1.8 there was only legacy
])
def test_the_path_iptables_names_its_backend(version: str, mode: str) -> None:
    assert runner.mode_of(version) == mode


@pytest.mark.parametrize(("setting", "usable", "mode"), [
    ("auto", {"legacy", "nft"}, "legacy"),  # legacy restores large rulesets far faster
    ("auto", {"nft"}, "nft"),
    ("auto", set(), "nft"),
    ("nft", {"legacy", "nft"}, "nft"),
    ("legacy", {"legacy"}, "legacy"),
])
def test_the_proxy_backend_for_each_setting(setting: str, usable: set[str], mode: str) -> None:
    assert runner.pick(setting, usable.__contains__) == mode


def test_an_unusable_explicit_backend_is_an_error() -> None:
    with pytest.raises(IptablesError, match="legacy is not usable"):
        runner.pick("legacy", {"nft"}.__contains__)


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, legacy or nft"):
        runner.pick("iptables", {"nft"}.__contains__)


def test_argv_runs_the_backend_inside_the_namespace() -> None:
    assert Backend("nft").argv("save", "-t", "nat") == ["iptables-nft-save", "-t", "nat"]
    assert Backend("legacy", "n1").argv("") == ["ip", "netns", "exec", "n1", "iptables-legacy"]


def test_the_proxy_backend_is_chosen_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    probes: list[tuple[str, str | None]] = []

    def available(mode: str, netns: str | None = None) -> bool:
        probes.append((mode, netns))
        return True
    monkeypatch.setattr(runner, "available", available)
    monkeypatch.setattr(runner, "_path_mode", lambda: "nft")
    assert runner.choose("auto") == runner.choose("auto") == Backend("legacy")
    assert runner.choose("auto", "node-b") == Backend("legacy", "node-b")
    assert probes == [("legacy", None), ("legacy", "node-b")]


def test_firewall_rules_follow_the_iptables_on_path_asked_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[list[str]] = []

    def run(argv: list[str], **_kwargs: object) -> subprocess.CompletedProcess[str]:
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 0, "iptables v1.8.9 (nf_tables)\n", "")
    monkeypatch.setattr(subprocess, "run", run)
    assert runner.firewall() == Backend("nft")
    assert runner.firewall("node-b") == Backend("nft", "node-b")
    assert runs == [["iptables", "-V"]]


def test_a_failing_tool_raises_the_one_error_type_with_its_stderr(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def run(argv: list[str], **_kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(argv, 2, b"", b"iptables-restore: line 3 failed\n")
    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(IptablesError, match="exited 2: iptables-restore: line 3 failed"):
        Backend("nft").restore_sync("*filter\nCOMMIT\n")
    with pytest.raises(IptablesError, match="iptables-nft-save -t nat exited 2"):
        Backend("nft").save_sync("nat")
