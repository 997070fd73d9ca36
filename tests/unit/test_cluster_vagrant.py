"""vagrant/Vagrantfile: three machines, each provisioned by install.sh with its private
address and interface given explicitly (the NAT-interface trap). Evaluated by real Ruby
against a recording stand-in for Vagrant's configuration DSL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

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


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    script = tmp_path_factory.mktemp("vagrant") / "record.rb"
    script.write_text(RECORDER)
    out = subprocess.run(["ruby", str(script), str(VAGRANTFILE)], capture_output=True,
                         text=True, check=True, cwd=VAGRANTFILE.parent)
    return json.loads(out.stdout)


def test_ruby_syntax() -> None:
    done = subprocess.run(["ruby", "-c", str(VAGRANTFILE)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "Syntax OK" in done.stdout, done.stderr


def test_one_control_plane_and_two_workers_on_a_private_network(calls: list[dict]) -> None:
    defined = [c["args"][0] for c in calls if c["call"] == "vm.define"]
    assert defined == ["cp", "worker1", "worker2"]
    nets = {c["call"].split(".")[2]: c for c in calls if c["call"].endswith("vm.network")}
    assert {n: c["args"][0] for n, c in nets.items()} == dict.fromkeys(defined, "private_network")
    assert len({c["kw"]["ip"] for c in nets.values()}) == 3


def test_each_machine_runs_install_sh_with_its_own_address_and_interface(calls: list[dict]) -> None:
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
    join_files = {inline.split()[inline.split().index("--join-file") + 1]
                  for inline in provisions.values()}
    assert len(join_files) == 1  # the workers read what the control plane wrote


def test_the_repository_root_is_synced(calls: list[dict]) -> None:
    synced = [c["args"] for c in calls if c["call"] == "vm.synced_folder"]
    assert synced == [["..", "/vagrant"]]
    assert (VAGRANTFILE.parent / ".." / "install.sh").resolve().exists()
