"""nodes/x/proxy/configz: the kubelet's effective configuration, fetched from the node.

Only /configz is proxied, and only to the node's registered InternalIP and kubelet port
(status.daemonEndpoints): a general nodes/proxy would let whoever may write a Node's status
point the api-server, with its kubelet-client token, at any address.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import NODES
from minikube_py.apiserver import codec, proxy
from minikube_py.apiserver.state import OBJECTS
from minikube_py.apiserver.target import Target

PROXIED_PATHS = frozenset({"configz"})


async def node_proxy(request: web.Request, target: Target) -> web.StreamResponse:
    if request.method != "GET":
        raise errors.method_not_allowed()
    assert target.name is not None
    node = await request.app[OBJECTS].get(NODES, None, target.name)
    if target.proxy_path not in PROXIED_PATHS:
        raise errors.StatusError(404, "NotFound", f"the server could not find the requested "
                                 f"resource (nodes/proxy/{target.proxy_path})")
    url = f"{proxy.node_kubelet_base(node)}/{target.proxy_path}"
    try:
        async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
                http.get(url, ssl=proxy.KUBELET_TLS, headers=proxy.kubelet_auth(request),
                         allow_redirects=False) as upstream,
        ):
            text = await upstream.text()
            if upstream.status != 200:
                raise errors.StatusError(upstream.status if upstream.status >= 400 else 502,
                                         "InternalError", f"kubelet: {text.strip()}")
            return codec.json_response(await upstream.json(content_type=None))
    except (aiohttp.ClientError, OSError, ValueError) as e:
        raise proxy.unreachable(e) from None
