"""The one iptables runner: which backend a rule goes to, and running its -save/-restore.

Debian ships two iptables: "legacy" (the x_tables kernel interface, a table is
replaced as one blob) and "nft" (the same rules translated into nf_tables, each
rule and chain its own netlink object). Both work side by side in one kernel: a
packet passes the hooks of both, NAT binds at the first rule that translates it,
and a DROP in either is final (an ACCEPT in the other does not override it).

So the backend depends on what a rule does, and each choice is made once per host
(network namespace) and cached:
- `firewall()`: rules that ACCEPT (pod forwarding, the lab's bridge) go where the
  host's DROP policy lives, i.e. the backend of the `iptables` on PATH, which is
  the one dockerd and the administrator use (`iptables -V` says which).
- `choose(setting)`: the proxy's NAT and REJECT rules work from either, so "auto"
  takes legacy whenever the kernel offers it: restoring 10,000 services x 5
  endpoints takes ~1.5 s with legacy and minutes with nft (bench/README.md).
Every failure is an `IptablesError` carrying the tool's stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

MODES = ("legacy", "nft")
# Wait this long for the xtables lock (legacy) instead of failing when another tool holds it.
LOCK_WAIT = "5"


class IptablesError(RuntimeError):
    """iptables, iptables-save or iptables-restore failed; the message carries its stderr."""


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

    def _restore_argv(self) -> list[str]:
        return self.argv("restore", "-w", LOCK_WAIT, "--noflush", "--counters")

    async def restore(self, text: str) -> None:
        """Apply restore text as one transaction per table; nothing changes in a table
        whose transaction fails."""
        argv = self._restore_argv()
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate(text.encode())
        _check(argv, proc.returncode, err)

    def restore_sync(self, text: str) -> None:
        """Blocking `restore`, for callers in a worker thread or without an event loop."""
        argv = self._restore_argv()
        proc = subprocess.run(argv, input=text.encode(), capture_output=True, check=False,
                              timeout=120)
        _check(argv, proc.returncode, proc.stderr)

    async def save(self, table: str | None = None, *, counters: bool = False) -> str:
        """Current rules in iptables-save format: one table, or all of them (one process).

        Read in a thread by subprocess.run: at 10,000 services the output is ~18 MB,
        which asyncio's pipe reader takes several times longer to collect.
        """
        return await asyncio.to_thread(self.save_sync, table, counters=counters)

    def save_sync(self, table: str | None = None, *, counters: bool = False) -> str:
        """Blocking `save`; `counters` adds each rule's [packets:bytes]."""
        argv = self.argv("save", *(("-t", table) if table else ()), *(("-c",) if counters else ()))
        proc = subprocess.run(argv, capture_output=True, check=False, timeout=120)
        _check(argv, proc.returncode, proc.stderr)
        return proc.stdout.decode()

    @contextlib.contextmanager
    def restoring(self) -> Iterator[Callable[[str], None]]:
        """A restore fed chunk by chunk from the calling (worker) thread: `write` blocks
        while iptables-restore parses what it has, with no event loop (and no handing
        the GIL back and forth) in between. If the body raises, the tool is killed
        before it can read a COMMIT, so a half-written transaction never applies."""
        argv = self._restore_argv()
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


def mode_of(version: str) -> str:
    """The backend an `iptables -V` line names: "(nf_tables)" is nft; "(legacy)", or no
    mark at all (iptables before 1.8), is legacy."""
    return "nft" if "(nf_tables)" in version else "legacy"


def pick(setting: str, usable: Callable[[str], bool]) -> str:
    """The proxy's mode for `setting` ("auto", "legacy" or "nft"), given which are usable."""
    if setting not in ("auto", *MODES):
        raise ValueError(f"iptables backend must be auto, legacy or nft, not {setting!r}")
    if setting != "auto":
        if not usable(setting):
            raise IptablesError(f"iptables backend {setting} is not usable on this host")
        return setting
    return "legacy" if usable("legacy") else "nft"


@functools.cache
def _path_mode() -> str:
    """The mode of the `iptables` on PATH (the same binary in every namespace)."""
    try:
        proc = subprocess.run(["iptables", "-V"], capture_output=True, text=True, check=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise IptablesError(f"iptables -V: {e}") from e
    return mode_of(proc.stdout)


@functools.cache
def firewall(netns: str | None = None) -> Backend:
    """The backend for rules that ACCEPT: the host's own (see the module docstring)."""
    return Backend(_path_mode(), netns)


@functools.cache
def choose(setting: str, netns: str | None = None) -> Backend:
    """The proxy's backend for `setting`; raises if it is unusable (not cached then)."""
    mode = pick(setting, lambda m: available(m, netns))
    if setting == "auto":
        log.info("iptables backend chosen=%s host=%s reason=%s", mode, firewall(netns).mode,
                 "legacy restores large rulesets far faster (bench/README.md)"
                 if mode == "legacy" else "legacy iptables unavailable")
    return Backend(mode, netns)
