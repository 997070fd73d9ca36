"""pods/log, pods/exec and pods/attach: proxied to the kubelet of the pod's node.

The kubelet serves https://<node InternalIP>:<daemonEndpoints.kubeletEndpoint.Port>
/containerLogs/<ns>/<pod>/<container> and /exec/<ns>/<pod>/<container>. Logs
stream through chunk by chunk (follow works); exec and attach, a WebSocket (the
subprotocol, v4/v5.channel.k8s.io, the kubelet chose) or SPDY/3.1 (kubectl before 1.30),
are the kubelet's upgrade relayed as raw bytes by upgrade.py.

The api-server dials only the node's registered InternalIP, presents its kubelet-client
certificate (the kubelet asks it whether that user may `nodes/proxy`) and accepts only a
serving certificate from the cluster CA issued to that node by name (pki.issue at join), so
neither a Node status pointing elsewhere nor another node's certificate gets the stream.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import NODES, PODS
from minikube_py.api.types import Object
from minikube_py.apiserver import upgrade
from minikube_py.apiserver.state import KUBELET_TLS, OBJECTS
from minikube_py.apiserver.target import Target

log = logging.getLogger(__name__)

DEFAULT_KUBELET_PORT = 10250
LOG_PARAMS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "sinceTime",
              "limitBytes")
ATTACH_PARAMS = ("stdin", "stdout", "stderr", "tty")
EXEC_PARAMS = ("command", *ATTACH_PARAMS)


class Kubelet(NamedTuple):
    """Where a node's kubelet is and whom its serving certificate must name."""

    base: str  # https://<InternalIP>:<port>
    node: str  # a DNS SAN of its serving certificate (TLS server_hostname)


def _container(pod: Object, requested: str | None) -> str:
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    names += [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
    pod_name = pod["metadata"]["name"]
    if requested:
        if requested not in names:
            raise errors.bad_request(f"container {requested} is not valid for pod {pod_name}")
        return requested
    regular = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if len(regular) == 1:
        return str(regular[0])
    raise errors.bad_request(f"a container name must be specified for pod {pod_name}, choose "
                             f"one of: [{' '.join(str(n) for n in regular)}]")


async def pod_kubelet(request: web.Request, pod: Object) -> Kubelet:
    """The kubelet running `pod`; 400 while it is not scheduled."""
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {pod['metadata']['name']} does not have a host "
                                 "assigned")
    return node_kubelet(await request.app[OBJECTS].get(NODES, None, node_name))


def node_kubelet(node: Object) -> Kubelet:
    """The node's kubelet: its registered InternalIP and kubelet port."""
    status: dict[str, Any] = node.get("status") or {}
    address = next((a.get("address") for a in status.get("addresses") or []
                    if a.get("type") == "InternalIP"), None)
    if not address:
        raise errors.StatusError(503, "ServiceUnavailable",
                                 f"node {node['metadata']['name']} has no InternalIP address")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get(
        "Port") or DEFAULT_KUBELET_PORT
    host = f"[{address}]" if ":" in address else address
    return Kubelet(f"https://{host}:{port}", node["metadata"]["name"])


async def _pod_and_container(request: web.Request, target: Target
                             ) -> tuple[Object, str, Kubelet]:
    assert target.name is not None
    pod = await request.app[OBJECTS].get(PODS, target.namespace, target.name)
    container = _container(pod, request.query.get("container"))
    return pod, container, await pod_kubelet(request, pod)


def dial(request: web.Request, kubelet: Kubelet) -> dict[str, Any]:
    """aiohttp request arguments for the kubelet: our client certificate, and its serving
    certificate verified against the cluster CA for the node's name."""
    return {"ssl": request.app[KUBELET_TLS], "server_hostname": kubelet.node}


def unreachable(e: Exception) -> errors.StatusError:
    return errors.StatusError(502, "BadGateway", f"error dialing the kubelet: {e}")


async def container_log(request: web.Request, target: Target) -> web.StreamResponse:
    """GET pods/x/log: the kubelet's answer, streamed as it comes."""
    if request.method != "GET":
        raise errors.method_not_allowed()
    pod, container, kubelet = await _pod_and_container(request, target)
    params = {k: v for k, v in request.query.items() if k in LOG_PARAMS}
    url = f"{kubelet.base}/containerLogs/{target.namespace}/{pod['metadata']['name']}/" \
          f"{container}"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    try:
        async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url, params=params, **dial(request, kubelet)) as upstream,
        ):
            if upstream.status >= 400:
                text = await upstream.text()
                raise errors.StatusError(upstream.status, "BadRequest"
                                         if upstream.status < 500 else "InternalError", text)
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, OSError) as e:
        raise unreachable(e) from None


async def exec_(request: web.Request, target: Target) -> web.StreamResponse:
    return await _remote_command(request, target, "exec", EXEC_PARAMS)


async def attach(request: web.Request, target: Target) -> web.StreamResponse:
    """pods/x/attach: the container's main process, as exec relays a command."""
    return await _remote_command(request, target, "attach", ATTACH_PARAMS)


async def _remote_command(request: web.Request, target: Target, kind: str,
                          accepted: tuple[str, ...]) -> web.StreamResponse:
    """pods/x/exec or attach over WebSocket or SPDY/3.1: the kubelet's upgrade, relayed as
    raw bytes (upgrade.py)."""
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed()
    upgrade_to = request.headers.get("Upgrade", "").lower()
    if upgrade_to != "websocket" and not upgrade_to.startswith("spdy/"):
        raise errors.bad_request(f"{kind} needs a WebSocket or SPDY/3.1 upgrade")
    pod, container, kubelet = await _pod_and_container(request, target)
    params = [(k, v) for k, v in request.query.items() if k in accepted]
    url = f"{kubelet.base}/{kind}/{target.namespace}/{pod['metadata']['name']}/{container}"
    return await upgrade.relay(request, url, params, **dial(request, kubelet))


def offered_protocols(request: web.Request) -> list[str]:
    """The client's WebSocket subprotocols, in its order."""
    return [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()]
