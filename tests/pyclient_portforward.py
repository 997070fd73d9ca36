"""The official Python client's port-forward (WebSocket channels), driven the way its own
end-to-end suite drives it; shared by the integration and e2e tiers."""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes.stream import portforward


def exchange(core: Any, pod: str, namespace: str, port: int, closed_port: int,
             request: bytes) -> tuple[bytes, str | None]:
    """Send `request` to `port` and read until the pod closes, in one WebSocket that also
    forwards `closed_port`: (the bytes read, the error reported for `closed_port`)."""
    forward = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace,
                          ports=f"{port},{closed_port}")
    try:
        sock = forward.socket(port)
        sock.settimeout(20)
        if request:  # a greeting server may have said all and closed by now (its words stay
            sock.sendall(request)  # readable; a send, even an empty one, is EPIPE then)
        response = b""
        while chunk := sock.recv(1 << 16):
            response += chunk
        sock.close()
        deadline = time.monotonic() + 20
        while forward.error(closed_port) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return response, forward.error(closed_port)
    finally:
        forward.close()
        proxies = [t for t in threading.enumerate()
                   if t.name.startswith("Kubernetes port forward proxy")]
        for thread in proxies:  # it closes the WebSocket once both ends are done
            thread.join(timeout=20)
        forward.websocket.shutdown()  # after the server's close the client keeps its socket
