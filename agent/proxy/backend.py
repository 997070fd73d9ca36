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
import contextlib
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
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
        """Apply restore text as one transaction per table; nothing changes in a table
        whose transaction fails."""
        await _run(self.argv("restore", "--noflush", "--counters"), text)

    async def save(self, table: str | None = None) -> str:
        """Current rules in iptables-save format: one table, or all of them (one process).

        Read in a thread by subprocess.run: at 10,000 services the output is ~18 MB,
        which asyncio's pipe reader takes several times longer to collect.
        """
        return await asyncio.to_thread(self.save_sync, table)

    def save_sync(self, table: str | None = None) -> str:
        """Blocking `save` (detection runs it once before the loop starts)."""
        argv = self.argv("save", *(("-t", table) if table else ()))
        proc = subprocess.run(argv, capture_output=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise IptablesError(f"{' '.join(argv)}: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode()

    @contextlib.contextmanager
    def restoring(self) -> Iterator[Callable[[str], None]]:
        """A restore fed chunk by chunk from the calling (worker) thread: `write` blocks
        while iptables-restore parses what it has, with no event loop (and no handing
        the GIL back and forth) in between. If the body raises, the tool is killed
        before it can read a COMMIT, so a half-written transaction never applies."""
        argv = self.argv("restore", "--noflush", "--counters")
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        stdin, stderr = proc.stdin, proc.stderr
        assert stdin is not None and stderr is not None

        def write(chunk: str) -> None:
            stdin.write(chunk.encode())

        try:
            try:
                yield write
                stdin.close()
            except BrokenPipeError:
                pass  # it stopped reading because it failed: its exit status and stderr say why
            err, code = stderr.read(), proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
            stderr.close()
        _check(argv, code, err)


async def _run(argv: list[str], stdin: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(stdin.encode())
    _check(argv, proc.returncode, err)


def _check(argv: list[str], code: int | None, err: bytes) -> None:
    if code != 0:
        raise IptablesError(f"{' '.join(argv)} exited {code}: "
                            f"{err.decode(errors='replace').strip()}")


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
             "legacy restores large rulesets far faster (bench/README.md)" if mode == "legacy"
             else "legacy iptables unavailable")
    return Backend(mode, netns)
