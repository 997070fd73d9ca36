"""nodes/x/proxy/...: the kubelet's effective configuration (configz) and the dataplane
state and probe `minikube-py trace` reads (debug/dataplane, debug/probe), from the node.

Only these paths are proxied (with their query), each with its one method, and only to the node's registered InternalIP and kubelet port
(status.daemonEndpoints): a general nodes/proxy would let whoever may write a Node's status
point the api-server, with its kubelet-client certificate, at any address.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import NODES
from minikube_py.apiserver import codec, proxy
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target

PROXIED_PATHS = {"configz": "GET", "debug/dataplane": "GET", "debug/probe": "POST"}


async def node_proxy(request: web.Request, target: Target) -> web.StreamResponse:
    method = PROXIED_PATHS.get(target.proxy_path or "")
    if method is None:
        raise errors.StatusError(404, "NotFound", f"the server could not find the requested "
                                 f"resource (nodes/proxy/{target.proxy_path})")
    if request.method != method:
        raise errors.method_not_allowed()
    assert target.name is not None
    node = await request.app[OBJECTS].get(NODES, None, target.name)
    kubelet = proxy.node_kubelet(node)
    url = f"{kubelet.base}/{target.proxy_path}"
    try:
        async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
                http.request(method, url, params=request.query, allow_redirects=False,
                             **proxy.dial(request, kubelet)) as upstream,
        ):
            text = await upstream.text()
            if upstream.status != 200:
                raise errors.StatusError(upstream.status if upstream.status >= 400 else 502,
                                         "InternalError", f"kubelet: {text.strip()}")
            return codec.json_response(await upstream.json(content_type=None))
    except (aiohttp.ClientError, OSError, ValueError) as e:
        raise proxy.unreachable(e) from None
