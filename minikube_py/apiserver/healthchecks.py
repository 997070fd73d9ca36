"""/healthz, /livez and /readyz as kube-apiserver answers them.

Checks: `ping` (always ok) and `etcd`, a linearizable read bounded by ETCD_TIMEOUT, so
while etcd has no quorum /readyz fails within seconds (and load balancers and the
supervisor's wait stop sending to this api-server) instead of hanging on the store's
retries. A failure lists every check, `[-]etcd failed: reason withheld` as
kube-apiserver's, and the reason goes to the log; `?verbose` lists them on success too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from minikube_py.store import StorageError

log = logging.getLogger(__name__)

ETCD_TIMEOUT = 2.0  # kube-apiserver's --etcd-healthcheck-timeout


async def etcd_error(read: Callable[[], Awaitable[object]]) -> str | None:
    """Why etcd cannot serve a linearizable read now, or None when it can."""
    try:
        await asyncio.wait_for(read(), ETCD_TIMEOUT)
    except TimeoutError:
        return f"no linearizable read within {ETCD_TIMEOUT:g}s (etcd without quorum?)"
    except StorageError as e:
        return str(e)
    return None


async def respond(request: web.Request, endpoint: str,
                  read: Callable[[], Awaitable[object]]) -> web.Response:
    error = await etcd_error(read)
    lines = ["[+]ping ok",
             "[+]etcd ok" if error is None else "[-]etcd failed: reason withheld"]
    if error is None:
        if "verbose" not in request.query:
            return web.Response(text="ok")
        return web.Response(text="\n".join([*lines, f"{endpoint} check passed", ""]))
    log.warning("%s check failed check=etcd reason=%s", endpoint, error)
    return web.Response(status=500, text="\n".join([*lines, f"{endpoint} check failed", ""]))
