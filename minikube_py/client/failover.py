"""Client-side fail-over between api-servers, as k3s's agent load balancer does it.

The client keeps its configured server (in an HA cluster the VIP) first and a list of
others (every api-server, from the `kubernetes` Endpoints). A request that cannot even
connect to the current one (refused, unreachable, connect timeout) moves to the next;
after `prefer_primary_after` seconds the configured server is tried again, so a moved
VIP is used as soon as it answers. Only connection failures move: an answer, even an
error status, means the server is there.
"""

from __future__ import annotations

import logging
import time

import aiohttp

log = logging.getLogger(__name__)


def cannot_connect(error: BaseException) -> bool:
    """The request never reached a server (so it is safe to send elsewhere)."""
    return isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))


class ServerList:
    """The configured server and the fallbacks; `current` is where requests go now."""

    def __init__(self, primary: str, prefer_primary_after: float = 10.0) -> None:
        self.primary = primary
        self.fallbacks: list[str] = []
        self.current = primary
        self.prefer_primary_after = prefer_primary_after
        self._left_primary_at = 0.0

    def set_fallbacks(self, servers: list[str]) -> None:
        self.fallbacks = [s.rstrip("/") for s in servers if s.rstrip("/") != self.primary]

    def pick(self) -> str:
        """The server for the next request."""
        if self.current != self.primary and \
                time.monotonic() - self._left_primary_at >= self.prefer_primary_after:
            self.current = self.primary
        return self.current

    def failed(self, server: str) -> bool:
        """`server` could not be reached: move on; False when there is nowhere to go."""
        ring = [self.primary, *self.fallbacks]
        if len(ring) < 2 or server != self.current:
            return len(ring) >= 2  # another request moved already
        self.current = ring[(ring.index(server) + 1) % len(ring)] if server in ring \
            else self.primary
        if server == self.primary:
            self._left_primary_at = time.monotonic()
        log.warning("api-server unreachable, failing over from=%s to=%s", server, self.current)
        return True
