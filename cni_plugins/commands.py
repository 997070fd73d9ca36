"""ADD, DEL, CHECK, STATUS and GC: the order of the steps and the undo on failure.

ADD follows the reference bridge plugin: make sure of the bridge, create the
veth pair (refused, with nothing changed, when the container already has the
interface), lease an address, configure the container side, and on any
failure undo what was done (lease, then link) so a failed ADD leaves nothing
behind. DEL releases the lease first, so it is released even when the
namespace is gone.
"""

from __future__ import annotations

import logging
import os

from pyroute2 import IPRoute

from cni_plugins import bridge, ipam
from cni_plugins.conf import Env, NetConf
from cni_plugins.errors import (
    CHECK_FAILED,
    INCOMPATIBLE_VERSION,
    INVALID_NETWORK_CONFIG,
    PLUGIN_NOT_AVAILABLE,
    UNKNOWN_CONTAINER,
    CniError,
)
from cni_plugins.forwarding import enable_ip_forward
from cni_plugins.nsutil import host_iproute, open_iproute
from cni_plugins.result import Result, container_ips, convert, merge, normalize

log = logging.getLogger(__name__)


def _container(path: str) -> IPRoute:
    """Open the container namespace, mapping "it is not there" to code 3."""
    try:
        return open_iproute(path)
    except OSError as e:
        raise CniError(UNKNOWN_CONTAINER, f"failed to open netns {path!r}", str(e)) from e


def cmd_add(env: Env, conf: NetConf) -> Result:
    with _container(env.netns) as cipr, host_iproute() as ipr:
        enable_ip_forward()  # the bridge is the pods' gateway: the node must route
        br = bridge.ensure_bridge(ipr, conf)
        host, cont = bridge.add_veth(ipr, cipr, conf, bridge=br, netns=env.netns,
                                     ifname=env.ifname)
        try:
            ip = ipam.allocate(conf, env.container_id, env.ifname)
            try:
                bridge.configure_container(cipr, conf, index=cont.index, ip=ip)
            except Exception:
                ipam.release(conf, env.container_id, env.ifname)
                raise
        except Exception:
            bridge.delete_link(cipr, cont.index)
            raise
    log.info("cni add container=%s ifname=%s ip=%s host_veth=%s",
             env.container_id, env.ifname, ip, host.name)
    ours: Result = {
        "interfaces": [
            {"name": br.name, "mac": br.mac},
            {"name": host.name, "mac": host.mac},
            {"name": cont.name, "mac": cont.mac, "sandbox": env.netns, "mtu": conf.mtu},
        ],
        "ips": [{"address": f"{ip}/{conf.subnet.prefixlen}", "gateway": str(conf.gateway),
                 "interface": 2}],
        "routes": [{"dst": str(r.dst), "gw": str(r.gw or conf.gateway)} for r in conf.routes],
        "dns": conf.dns or {},
    }
    return convert(merge(conf.prev_result, ours), conf.cni_version)


def cmd_del(env: Env, conf: NetConf) -> None:
    released = ipam.release(conf, env.container_id, env.ifname)
    removed = bool(env.netns) and bridge.delete_container_link(env.netns, env.ifname)
    log.info("cni del container=%s ifname=%s released=%s link_removed=%s",
             env.container_id, env.ifname, [str(i) for i in released], removed)


def _require(conf: NetConf, command: str, since: str) -> None:
    order = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
    if order.index(conf.cni_version) < order.index(since):
        raise CniError(INCOMPATIBLE_VERSION, f"config version {conf.cni_version} does not "
                       f"allow {command} (needs {since})")


def cmd_check(env: Env, conf: NetConf) -> None:
    _require(conf, "CHECK", "0.4.0")
    if conf.prev_result is None:
        raise CniError(INVALID_NETWORK_CONFIG, "prevResult is required for CHECK")
    prev = normalize(conf.prev_result)
    ips = container_ips(prev, env.ifname, env.netns)
    if not ips:
        raise CniError(CHECK_FAILED, f"prevResult has no IP on {env.ifname!r} in {env.netns}")
    leased = {str(ip) for ip in ipam.lookup(conf, env.container_id, env.ifname)}
    for ip in ips:
        if ip["address"].split("/")[0] not in leased:
            raise CniError(CHECK_FAILED, f"{ip['address']} is not leased to "
                           f"{env.container_id}/{env.ifname}")
    mac = next((i.get("mac") for i in prev["interfaces"]
                if i.get("name") == env.ifname and i.get("sandbox") == env.netns), None)
    with _container(env.netns) as cipr, host_iproute() as ipr:
        if bridge.find_link(ipr, conf.bridge) is None:
            raise CniError(CHECK_FAILED, f"bridge {conf.bridge!r} is missing on the node")
        bridge.check_container(cipr, ifname=env.ifname, mac=mac,
                               addresses=[ip["address"] for ip in ips], routes=prev["routes"])


def cmd_status(env: Env, conf: NetConf) -> None:
    _require(conf, "STATUS", "1.1.0")
    store = ipam.LeaseStore(conf.data_dir, conf.name)
    try:
        os.makedirs(store.dir, exist_ok=True)
    except OSError as e:
        raise CniError(PLUGIN_NOT_AVAILABLE, f"IPAM store {store.dir} is not usable", str(e)) from e
    if not os.access(store.dir, os.W_OK):
        raise CniError(PLUGIN_NOT_AVAILABLE, f"IPAM store {store.dir} is not writable")


def cmd_gc(env: Env, conf: NetConf) -> None:
    _require(conf, "GC", "1.1.0")
    if conf.valid_attachments is None:
        raise CniError(INVALID_NETWORK_CONFIG, "GC needs cni.dev/valid-attachments")
    released = ipam.gc(conf, set(conf.valid_attachments))
    log.info("cni gc network=%s released=%s", conf.name, [str(i) for i in released])


HANDLERS = {"ADD": cmd_add, "DEL": cmd_del, "CHECK": cmd_check, "STATUS": cmd_status,
            "GC": cmd_gc}
