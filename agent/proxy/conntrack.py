"""Forget UDP flows of removed endpoints.

UDP has no connection end, so a client that keeps sending to a Service keeps
hitting the conntrack entry that DNATs it to an endpoint that is gone. Like
kube-proxy, delete those entries when an endpoint leaves, and when a UDP
service gets its first endpoint (entries made while it had none carry no DNAT).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Flush:
    """One `conntrack -D` filter: flows to a service address, optionally to one endpoint."""

    protocol: str
    orig_dst: str = ""       # service cluster IP
    orig_port_dst: int = 0   # node port (any local address)
    dst_nat: str = ""        # endpoint IP the flow was translated to

    def argv(self) -> list[str]:
        argv = ["conntrack", "-D", "-p", self.protocol]
        if self.orig_dst:
            argv += ["--orig-dst", self.orig_dst]
        if self.orig_port_dst:
            argv += ["--orig-port-dst", str(self.orig_port_dst)]
        if self.dst_nat:
            argv += ["--dst-nat", self.dst_nat]
        return argv


async def flush(flushes: list[Flush], netns: str | None) -> None:
    """Run every flush; a failure is logged, not raised (the rules are already right)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    for f in flushes:
        proc = await asyncio.create_subprocess_exec(
            *prefix, *f.argv(), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        # Exit 1 with "0 flow entries" just means nothing matched.
        if proc.returncode not in (0, 1):
            log.warning("conntrack flush failed argv=%s err=%s", f.argv(),
                        err.decode(errors="replace").strip())
