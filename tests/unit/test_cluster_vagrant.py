"""vagrant/Vagrantfile: three machines (or, MKP_PROFILE=ha, three control planes and two
workers), each provisioned by install.sh with its private address and interface given
explicitly (the NAT-interface trap), every joining machine reading its own join file from
the first control plane. Evaluated by real Ruby against a recording stand-in for
Vagrant's configuration DSL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

VAGRANTFILE = Path(__file__).resolve().parents[2] / "vagrant" / "Vagrantfile"

RECORDER = r"""
require "json"
class Recorder
  def initialize(log, path) @log, @path = log, path end
  def method_missing(name, *args, **kw, &blk)
    @log << { "call" => (@path + [name.to_s]).join("."), "args" => args.map(&:to_s), "kw" => kw.transform_keys(&:to_s).transform_values(&:to_s) }
    child = Recorder.new(@log, @path + [name.to_s] + (name == :define ? [args[0].to_s] : []))
    blk.call(child) if blk
    child
  end
  def respond_to_missing?(*) true end
end
module Vagrant
  LOG = []
  def self.configure(_version) yield Recorder.new(LOG, []) end
end
load ARGV[0]
puts JSON.generate(Vagrant::LOG)
"""

pytestmark = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby missing")


def record(tmp_path_factory: pytest.TempPathFactory, profile: str) -> list[dict[str, Any]]:
    script = tmp_path_factory.mktemp("vagrant") / "record.rb"
    script.write_text(RECORDER)
    out = subprocess.run(["ruby", str(script), str(VAGRANTFILE)], capture_output=True,
                         text=True, check=True, cwd=VAGRANTFILE.parent,
                         env={**os.environ, "MKP_PROFILE": profile})
    calls: list[dict[str, Any]] = json.loads(out.stdout)
    return calls


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return record(tmp_path_factory, "")


def test_ruby_syntax() -> None:
    done = subprocess.run(["ruby", "-c", str(VAGRANTFILE)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "Syntax OK" in done.stdout, done.stderr


def test_one_control_plane_and_two_workers_on_a_private_network(
        calls: list[dict[str, Any]]) -> None:
    defined = [c["args"][0] for c in calls if c["call"] == "vm.define"]
    assert defined == ["cp", "worker1", "worker2"]
    nets = {c["call"].split(".")[2]: c for c in calls if c["call"].endswith("vm.network")}
    assert {n: c["args"][0] for n, c in nets.items()} == dict.fromkeys(defined, "private_network")
    assert len({c["kw"]["ip"] for c in nets.values()}) == 3


def test_each_machine_runs_install_sh_with_its_own_address_and_interface(
        calls: list[dict[str, Any]]) -> None:
    ips = {c["call"].split(".")[2]: c["kw"]["ip"] for c in calls if c["call"].endswith("vm.network")}
    provisions = {c["call"].split(".")[2]: c["kw"]["inline"] for c in calls
                  if c["call"].endswith("vm.provision")}
    assert provisions.keys() == ips.keys()
    for name, inline in provisions.items():
        argv = inline.split()
        assert argv[0] == "/vagrant/install.sh"
        assert argv[argv.index("--node-ip") + 1] == ips[name]
        assert argv[argv.index("--iface") + 1] == "eth1"
        assert argv[argv.index("--role") + 1] == ("control-plane" if name == "cp" else "worker")
        assert "--vip" not in argv  # one control plane: its own address is the API's
    assert joins(provisions) == {"cp": ("--join-file", JOIN), "worker1": ("--join-from", JOIN),
                                 "worker2": ("--join-from", f"{JOIN}.2")}


JOIN = "/vagrant/.vagrant/minikube-py-join"


def joins(provisions: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Per machine: whether it writes (--join-file) or reads (--join-from) which file."""
    out = {}
    for name, inline in provisions.items():
        argv = inline.split()
        flag = "--join-file" if "--join-file" in argv else "--join-from"
        out[name] = (flag, argv[argv.index(flag) + 1])
    return out


def test_the_ha_profile_joins_two_more_control_planes(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each worker its own token (a join spends it); the control planes one shared file."""
    calls = record(tmp_path_factory, "ha")
    provisions = {c["call"].split(".")[2]: c["kw"]["inline"] for c in calls
                  if c["call"].endswith("vm.provision")}
    assert list(provisions) == ["cp1", "cp2", "cp3", "worker1", "worker2"]
    assert joins(provisions) == {
        "cp1": ("--join-file", JOIN), "cp2": ("--join-from", f"{JOIN}.control-plane"),
        "cp3": ("--join-from", f"{JOIN}.control-plane"), "worker1": ("--join-from", JOIN),
        "worker2": ("--join-from", f"{JOIN}.2")}
    assert "--workers 2" in provisions["cp1"]
    vips = {n: i.split()[i.split().index("--vip") + 1] for n, i in provisions.items()
            if "--vip" in i.split()}
    assert vips == {"cp1": "192.168.56.100"}  # the others read it from the join file
    roles = {n: i.split()[i.split().index("--role") + 1] for n, i in provisions.items()}
    assert [n for n, r in roles.items() if r == "control-plane"] == ["cp1", "cp2", "cp3"]
    ips = [c["kw"]["ip"] for c in calls if c["call"].endswith("vm.network")]
    assert len(set(ips)) == 5


def test_the_repository_root_is_synced(calls: list[dict[str, Any]]) -> None:
    synced = [c["args"] for c in calls if c["call"] == "vm.synced_folder"]
    assert synced == [["..", "/vagrant"]]
    assert (VAGRANTFILE.parent / ".." / "install.sh").resolve().exists()
