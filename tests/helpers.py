"""Helpers shared by the test tiers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import select
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from minikube_py.api.resources import NAMESPACES, PODS
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from tests.fixtures.builders import pod


async def eventually(check: Callable[[], Any | Awaitable[Any]], timeout: float = 30.0,
                     interval: float = 0.1, what: str = "condition") -> Any:
    """Poll `check()` (plain or async) until it returns something truthy, and return that.

    Components converge on their own time, so tests wait for a state rather than sleep;
    on timeout the AssertionError shows the last value, which is what says why it failed.
    `check` runs at least once, even with timeout 0.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                 f"last={last!r:.3000}")
        await asyncio.sleep(interval)


def nc_listener(port: int, nc: str = "busybox nc") -> list[str]:
    """argv of a one-connection TCP listener printing what it receives.

    busybox nc quits on EOF of its own stdin, sometimes before it has read the bytes already
    on the socket (1 run in 30 here, with stdin at /dev/null): `sleep` holds stdin open."""
    return ["sh", "-c", f"sleep 120 | {nc} -l -p {port}"]


def first_line(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> str:
    """The first line `proc` printed (stdout=PIPE), or AssertionError after `timeout`."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"nothing received within {timeout} s"
    return proc.stdout.readline().decode().strip()


@contextlib.asynccontextmanager
async def scratch_namespace(client: ApiClient, prefix: str) -> AsyncIterator[str]:
    """A uniquely named namespace for one test, deleted afterwards (the
    namespace controller, if running, empties it)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(ClientError):
            await client.delete(NAMESPACES, name)


async def create_pod(client: ApiClient, ns: str, name: str, ip: str, *, ready: bool,
                     port: int = 8080, app: str = "web") -> dict[str, Any]:
    """A pod labelled app=<app> on node-a with a container port "http", then its status
    (Running with `ip`, Ready or not) as an agent would write it: for the endpoints
    controllers' tests, which need pods but no agent."""
    body = pod(name, ns, node="node-a", ports=[{"name": "http", "containerPort": port}],
               labels={"app": app})
    await client.create(PODS, body, ns)
    return await set_pod_ready(client, ns, name, ip, ready)


async def set_pod_ready(client: ApiClient, ns: str, name: str, ip: str, ready: bool
                        ) -> dict[str, Any]:
    """Write the pod's status: Running at `ip`, its Ready condition `ready`."""
    status = pod(name, ns, ip=ip, ready=ready)["status"]
    return await client.patch(PODS, name, {"status": status}, namespace=ns,
                              subresource="status")
