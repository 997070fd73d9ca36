"""Every CNI plugin the node's conflist chains comes from a package `up` and install.sh install.

install.sh once left out containernetworking-plugins while the conflist chained `portmap`,
so no non-hostNetwork pod on an install.sh host got its network; these tests read the chain
from the code that writes it, so a new chained plugin without its package fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agent import cni_config
from agent.settings import AgentSettings
from cni_plugins.install import PLUGIN_TYPE
from minikube_py.cluster import host

INSTALL_SH = Path(__file__).resolve().parents[2] / "install.sh"


def chained_plugins() -> list[str]:
    """The executables the runtime looks up: every plugin type but the agent's own."""
    conf = cni_config.conflist(AgentSettings(), subnet="10.244.0.0/24", mtu=1450)
    return [p["type"] for p in conf["plugins"] if p["type"] != PLUGIN_TYPE]


def install_sh_packages(role: str) -> set[str]:
    """The apt packages install.sh installs for a role (`pkgs=(...)` plus role additions)."""
    text = INSTALL_SH.read_text()
    base = re.search(r"^pkgs=\(([^)]*)\)", text, re.MULTILINE)
    assert base is not None
    pkgs = set(base.group(1).split())
    for r, extra in re.findall(r'\[ "\$role" = ([\w-]+) \] && pkgs\+=\(([^)]*)\)', text):
        if r == role:
            pkgs |= set(extra.split())
    return pkgs


def providing_tool(plugin: str) -> host.Tool:
    tools = [t for t in host.TOOLS if os.path.isabs(t.binary) and os.path.basename(t.binary) == plugin]
    assert tools, f"`up` installs no package for the chained CNI plugin {plugin!r} (host.TOOLS)"
    return tools[0]


def test_the_conflist_chains_a_reference_plugin() -> None:
    assert "portmap" in chained_plugins()


@pytest.mark.parametrize("plugin", chained_plugins())
def test_up_installs_each_chained_plugin_where_the_agent_looks(plugin: str) -> None:
    tool = providing_tool(plugin)
    assert os.path.dirname(tool.binary) in AgentSettings().cni_bin_dirs


@pytest.mark.parametrize("role", ["control-plane", "worker"])
@pytest.mark.parametrize("plugin", chained_plugins())
def test_install_sh_installs_each_chained_plugin(plugin: str, role: str) -> None:
    assert providing_tool(plugin).package in install_sh_packages(role)


@pytest.mark.parametrize("plugin", chained_plugins())
def test_the_package_ships_the_plugin(plugin: str) -> None:
    """Where dpkg knows the package, its file list has the plugin at the path `up` checks."""
    tool = providing_tool(plugin)
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg here")
    files = subprocess.run(["dpkg", "-L", tool.package], capture_output=True, text=True, check=False)
    if files.returncode != 0:
        pytest.skip(f"{tool.package} is not installed here")
    assert tool.binary in files.stdout.split()


def test_install_sh_package_parse_sees_role_additions() -> None:
    assert "etcd-server" in install_sh_packages("control-plane")
    assert "etcd-server" not in install_sh_packages("worker")
