"""The node's CNI setup: our executable in the bin dir, its conflist in the conf dir.

Written once the node has a podCIDR (the kubelet reports the node Ready only
when a network config exists, as Kubernetes does). The conflist chains our
`mkp-bridge` with the reference `portmap` for hostPorts; the socket of the
resident netlink service and the lease directory live in this node's state
dir, since lab nodes share one filesystem.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from agent.settings import AgentSettings
from cni_plugins.install import PLUGIN_TYPE, install, uninstall

log = logging.getLogger(__name__)

CONF_NAME = "10-minikube-py.conflist"
NETWORK = "minikube-py"
BRIDGE = "cni0"


def socket_path(settings: AgentSettings) -> str:
    return os.path.join(settings.state_dir, "cni.sock")


def lease_dir(settings: AgentSettings) -> str:
    return os.path.join(settings.state_dir, "ipam")


def conflist(settings: AgentSettings, *, subnet: str, mtu: int) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",  # not 1.1.0: the reference portmap in the chain stops at 1.0.0
        "name": NETWORK,
        "plugins": [
            {"type": PLUGIN_TYPE, "bridge": BRIDGE, "mtu": mtu, "hairpinMode": True,
             "socket": socket_path(settings),
             "ipam": {"type": "mkp-local", "subnet": subnet, "dataDir": lease_dir(settings),
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }


def write(settings: AgentSettings, *, subnet: str, mtu: int) -> Path:
    """Install the executable and (re)write the conflist if it changed; atomic both."""
    install(settings.cni_bin_dirs[0])
    path = Path(settings.cni_conf_dir) / CONF_NAME
    text = json.dumps(conflist(settings, subnet=subnet, mtu=mtu), indent=2) + "\n"
    if path.exists() and path.read_text() == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{CONF_NAME}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    log.info("cni config written path=%s subnet=%s mtu=%d", path, subnet, mtu)
    return path


def cleanup(settings: AgentSettings) -> None:
    """Remove the conflist and our executable (the `down` command calls this)."""
    (Path(settings.cni_conf_dir) / CONF_NAME).unlink(missing_ok=True)
    uninstall(settings.cni_bin_dirs[0])
