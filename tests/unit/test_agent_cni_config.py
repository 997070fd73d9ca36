"""The node's CNI conflist and executable, written into temporary directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent import cni_config
from agent.settings import AgentSettings


def settings(tmp_path: Path) -> AgentSettings:
    return AgentSettings(cni_conf_dir=str(tmp_path / "net.d"),
                         cni_bin_dirs=[str(tmp_path / "bin"), "/usr/lib/cni"],
                         state_dir="/var/lib/mkp/node1")


def test_conflist_chains_our_bridge_and_portmap(tmp_path: Path) -> None:
    conf = cni_config.conflist(settings(tmp_path), subnet="10.244.3.0/24", mtu=1450)
    assert conf == {
        "cniVersion": "1.0.0", "name": "minikube-py",
        "plugins": [
            {"type": "mkp-bridge", "bridge": "cni0", "mtu": 1450, "hairpinMode": True,
             "socket": "/var/lib/mkp/node1/cni.sock",
             "ipam": {"type": "mkp-local", "subnet": "10.244.3.0/24",
                      "dataDir": "/var/lib/mkp/node1/ipam", "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}


def test_write_installs_the_executable_and_rewrites_only_on_change(tmp_path: Path) -> None:
    s = settings(tmp_path)
    path = cni_config.write(s, subnet="10.244.3.0/24", mtu=1450)
    assert json.loads(path.read_text())["plugins"][0]["ipam"]["subnet"] == "10.244.3.0/24"
    exe = tmp_path / "bin" / "mkp-bridge"
    assert os.access(exe, os.X_OK) and exe.read_text().startswith("#!/usr/bin/python3 -IS")
    before = path.stat().st_ino
    cni_config.write(s, subnet="10.244.3.0/24", mtu=1450)
    assert path.stat().st_ino == before  # unchanged: not replaced
    cni_config.write(s, subnet="10.244.4.0/24", mtu=1450)
    assert path.stat().st_ino != before
    cni_config.cleanup(s)
    assert not path.exists() and not exe.exists()
