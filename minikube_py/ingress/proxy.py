"""The HAProxy process: started in master-worker mode, every configuration checked by
`haproxy -c` before it is installed, reloaded through the master CLI.

A reload makes the master re-execute itself with the new file and hand the listening
sockets to a new worker; the old worker stops accepting, finishes what it holds
(bounded by hard-stop-after) and exits, so no connection is refused or cut. The master
CLI's `reload` is used rather than SIGUSR2: a signal arriving while the master is
re-executing would find the default action (terminate) in place. Completion is read
from `show proc` (the master's reload count goes up; its failed count must not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minikube_py.lifetime import die_with_parent

log = logging.getLogger(__name__)
_MASTER_RE = re.compile(rb"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)
_ALERT_RE = re.compile(r"^\[ALERT\]\s+\(\d+\)\s+:\s*(.*?)\s*$", re.MULTILINE)


class ProxyError(Exception):
    """HAProxy failed to start or to reload."""


class Refused(ProxyError):
    """`haproxy -c` refused a configuration (retrying the same text cannot help)."""


@dataclass(frozen=True)
class Paths:
    state_dir: Path

    @property
    def config(self) -> Path:
        return self.state_dir / "haproxy.cfg"

    @property
    def master_socket(self) -> Path:
        return self.state_dir / "master.sock"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "haproxy.pid"


class HAProxy:
    def __init__(self, paths: Paths, executable: str = "haproxy", *,
                 timeout: float = 10.0) -> None:
        self.paths, self.executable, self.timeout = paths, executable, timeout
        self.process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def check(self, config: Path) -> None:
        """`haproxy -c`: raise Refused with HAProxy's own words (its ALERT lines) if it
        refuses; not `-q`, which silences them too."""
        proc = await asyncio.create_subprocess_exec(
            self.executable, "-c", "-f", str(config), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            text = out.decode(errors="replace")
            raise Refused("; ".join(_ALERT_RE.findall(text)) or text.strip() or
                          f"haproxy -c exited {proc.returncode}")

    async def start(self) -> None:
        self.paths.master_socket.unlink(missing_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            self.executable, "-W", "-S", f"{self.paths.master_socket},mode,600",
            "-f", str(self.paths.config), "-p", str(self.paths.pid_file),
            stdin=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent)
        log.info("haproxy started pid=%d config=%s", self.process.pid, self.paths.config)
        await self.reloads()

    async def reload(self) -> None:
        before, failed_before = await self.reloads()
        await self._command("reload")
        await self._wait_reloads(lambda count, failed: count > before)
        _, failed = await self.reloads()
        if failed > failed_before:
            raise ProxyError("haproxy could not load the new configuration (see its log)")

    async def reloads(self) -> tuple[int, int]:
        """The master's (reloads, failed reloads), once it answers (it refuses while it
        re-executes for a reload)."""
        answer: list[tuple[int, int]] = []

        def seen(count: int, failed: int) -> bool:
            answer.append((count, failed))
            return True

        await self._wait_reloads(seen)
        return answer[-1]

    async def _read_reloads(self) -> tuple[int, int]:
        found = _MASTER_RE.search(await self._command("show proc"))
        if found is None:
            raise ProxyError("unexpected `show proc` answer from the haproxy master")
        return int(found.group(1)), int(found.group(2))

    async def stop(self) -> None:
        """SIGTERM the master (workers stop with it); SIGKILL after the timeout."""
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self.timeout):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.info("haproxy stopped pid=%d", proc.pid)

    async def _command(self, command: str) -> bytes:
        """One master CLI command. asyncio.timeout, not wait_for: Python 3.11's wait_for
        drops a cancellation that arrives as the awaited call completes, and this runs
        every 20 ms while a reload is awaited, so the controller would not stop."""
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_unix_connection(str(self.paths.master_socket))
            try:
                writer.write(f"{command};quit\n".encode())
                await writer.drain()
                return await reader.read()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def _wait_reloads(self, done: Callable[[int, int], bool]) -> None:
        """Poll the master CLI until it answers and `done(reloads, failed)` holds; the
        socket refuses while the master re-executes."""
        deadline = time.monotonic() + self.timeout
        while True:
            if not self.running:
                code = self.process.returncode if self.process else None
                raise ProxyError(f"haproxy exited with {code}")
            try:
                if done(*await self._read_reloads()):
                    return
            except (OSError, ProxyError):
                pass
            if time.monotonic() > deadline:
                raise ProxyError("the haproxy master did not answer in time")
            await asyncio.sleep(0.02)


def install(candidate: Path, target: Path) -> None:
    """Replace the live configuration by a checked candidate (atomic rename)."""
    os.replace(candidate, target)
