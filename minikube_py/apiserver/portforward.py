"""pods/portforward: the client's SPDY/3.1 connection relayed to the kubelet's
/portForward/{namespace}/{pod} (which dials the ports inside the pod).

Only SPDY is served. kubectl from 1.31 first tries SPDY tunnelled in a WebSocket
and falls back to plain SPDY when that upgrade is refused, so the 400 below is
what makes every kubectl use the one protocol both ends speak.
"""

from __future__ import annotations

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import PODS
from minikube_py.apiserver import proxy, upgrade
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target


async def port_forward(request: web.Request, target: Target) -> web.StreamResponse:
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed()
    if not request.headers.get("Upgrade", "").lower().startswith("spdy/"):
        raise errors.bad_request("port-forward needs a SPDY/3.1 upgrade")
    assert target.name is not None
    pod = await request.app[OBJECTS].get(PODS, target.namespace, target.name)
    kubelet = await proxy.pod_kubelet(request, pod)
    url = f"{kubelet.base}/portForward/{target.namespace}/{target.name}"
    return await upgrade.relay(request, url, [], **proxy.dial(request, kubelet))
