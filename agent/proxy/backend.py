"""Which iptables the proxy drives, and running it.

Debian ships two iptables: "legacy" (the x_tables kernel interface, a table is
replaced as one blob) and "nft" (the same rules translated into nf_tables, each
rule and chain its own netlink object). Both work side by side in one kernel:
a packet passes the hooks of both, and NAT binds at the first rule that
translates it. What differs is speed at scale: restoring 10,000 services x 5
endpoints takes ~1.5 s with legacy and minutes with nft (bench/README.md), so
`choose()` takes legacy whenever the kernel offers it. `host_mode()` detects the
backend the rest of the host uses, the way kube-proxy's iptables-wrapper does
(the one holding more rules), so it can be logged and cleaned up after.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

MODES = ("legacy", "nft")


class IptablesError(RuntimeError):
    """iptables-restore or -save failed; the message carries its stderr."""


@dataclass(frozen=True)
class Backend:
    """One iptables flavour, optionally run inside a named network namespace."""

    mode: str
    netns: str | None = None

    def argv(self, tool: str, *args: str) -> list[str]:
        """Command line for iptables-<mode>[-<tool>] (tool "" is iptables itself)."""
        binary = f"iptables-{self.mode}" + (f"-{tool}" if tool else "")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [*prefix, binary, *args]

    async def restore(self, text: str) -> None:
        """Apply restore text as one transaction; nothing changes if it fails."""
        await _run(self.argv("restore", "--noflush", "--counters"), text)

    async def save(self, table: str) -> str:
        """The table's current rules in iptables-save format."""
        return await _run(self.argv("save", "-t", table), None)

    def save_sync(self, table: str) -> str:
        """Blocking `save` for detection, which happens once before the loop starts."""
        proc = subprocess.run(self.argv("save", "-t", table), capture_output=True, text=True,
                              check=False, timeout=60)
        if proc.returncode != 0:
            raise IptablesError(f"{' '.join(self.argv('save'))}: {proc.stderr.strip()}")
        return proc.stdout


async def _run(argv: list[str], stdin: str | None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        raise IptablesError(f"{' '.join(argv)} exited {proc.returncode}: "
                            f"{err.decode(errors='replace').strip()}")
    return out.decode()


def available(mode: str, netns: str | None = None) -> bool:
    """The binary exists and the kernel answers it (legacy needs x_tables support)."""
    backend = Backend(mode, netns)
    if shutil.which(backend.argv("restore")[-1]) is None:
        return False
    try:
        backend.save_sync("nat")
    except (IptablesError, OSError, subprocess.TimeoutExpired):
        return False
    return True


def rule_count(mode: str, netns: str | None = None) -> int:
    """Rules the host keeps in this backend's nat and filter tables (0 if unusable)."""
    backend = Backend(mode, netns)
    try:
        text = backend.save_sync("nat") + backend.save_sync("filter")
    except (IptablesError, OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("-A "))


def host_mode(netns: str | None = None) -> str:
    """The backend the rest of the host uses: the one with more rules (nft on a tie)."""
    return "legacy" if rule_count("legacy", netns) > rule_count("nft", netns) else "nft"


def choose(setting: str, netns: str | None = None) -> Backend:
    """The backend for `setting` ("auto", "legacy" or "nft"); raises if it is unusable."""
    if setting not in ("auto", *MODES):
        raise ValueError(f"iptables backend must be auto, legacy or nft, not {setting!r}")
    if setting != "auto":
        if not available(setting, netns):
            raise IptablesError(f"iptables backend {setting} is not usable on this host")
        return Backend(setting, netns)
    host = host_mode(netns)
    mode = "legacy" if available("legacy", netns) else "nft"
    log.info("iptables backend chosen=%s host=%s reason=%s", mode, host,
             "legacy restores large rulesets ~100x faster" if mode == "legacy"
             else "legacy iptables unavailable")
    return Backend(mode, netns)
