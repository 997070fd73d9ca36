"""pods/portforward: relayed to the kubelet's /portForward/{namespace}/{pod} (which dials
the ports inside the pod) in the client's protocol, as kube-apiserver >= 1.30 serves it:

- SPDY/3.1 (`portforward.k8s.io`, kubectl before 1.31): raw bytes after the upgrade;
- a WebSocket of subprotocol `SPDY/3.1+portforward.k8s.io` (kubectl from 1.31): the same
  SPDY session tunnelled in binary messages (upgrade.py);
- a WebSocket of the channel protocol (v4.channel.k8s.io, the Python client's
  `portforward`): `?ports=` (repeated or comma-separated) become the kubelet's `port`s and
  the upgrade is relayed as raw bytes (upgrade.py, as for exec and attach).

`ports` is converted as kube-apiserver does for every request (400 if one is not a 16-bit
number). A WebSocket's ports are then judged with the kubelet's messages here, before
dialling it, as kube-apiserver would relay its 400.
"""

from __future__ import annotations

import logging

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.portforward import convert_ports, kubelet_ports
from minikube_py.api.resources import PODS
from minikube_py.apiserver import proxy, upgrade
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target

log = logging.getLogger(__name__)

TUNNEL = "SPDY/3.1+portforward.k8s.io"


def _ports(request: web.Request) -> list[int]:
    """PodPortForwardOptions.ports, converted (400 if one is not a 16-bit number)."""
    try:
        return convert_ports(request.query.getall("ports", []))
    except ValueError as e:
        raise errors.bad_request(str(e)) from None


def _kubelet_query(ports: list[int]) -> list[tuple[str, str]]:
    """The kubelet's `port` query for a WebSocket, 400 with its message if it would refuse."""
    query = [("port", str(port)) for port in ports]
    try:
        kubelet_ports([port for _, port in query])
    except ValueError as e:
        raise errors.bad_request(str(e)) from None
    return query


async def port_forward(request: web.Request, target: Target) -> web.StreamResponse:
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed()
    upgrade_to = request.headers.get("Upgrade", "").lower()
    if upgrade_to != "websocket" and not upgrade_to.startswith("spdy/"):
        raise errors.bad_request("port-forward needs a WebSocket or SPDY/3.1 upgrade")
    ports = _ports(request)
    tunnel = upgrade_to == "websocket" and TUNNEL in proxy.offered_protocols(request)
    protocol = "spdy" if upgrade_to.startswith("spdy/") else \
        "websocket-tunnel" if tunnel else "websocket-channels"
    assert target.name is not None
    pod = await request.app[OBJECTS].get(PODS, target.namespace, target.name)
    kubelet = await proxy.pod_kubelet(request, pod)
    url = f"{kubelet.base}/portForward/{target.namespace}/{target.name}"
    log.info("port-forward protocol=%s pod=%s/%s", protocol, target.namespace, target.name)
    query = _kubelet_query(ports) if protocol == "websocket-channels" else []
    return await upgrade.relay(request, url, query, **proxy.dial(request, kubelet),
                               tunnel=TUNNEL if tunnel else None)
