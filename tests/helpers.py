"""Helpers shared by the test tiers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from minikube_py.api.resources import NAMESPACES
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError


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
