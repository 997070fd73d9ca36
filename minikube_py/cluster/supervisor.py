"""A tiny init for one cluster: keeps every component process running, restarts with back-off.

`up` starts it detached (`minikube-py supervise`, its own session) and returns. It runs the
plan's components in order, each once its prerequisites exist (the api-server's
admin.conf, /readyz), appends each one's output to its log, restarts a component that
exits (1 s doubling to 30 s, reset after a minute of running) and mirrors what it sees
into status.json. SIGTERM stops the components in reverse order (SIGTERM, SIGKILL after a
grace period). Children get PR_SET_PDEATHSIG so none outlives a killed supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import ssl
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

import aiohttp

from minikube_py.api.backoff import Exponential
from minikube_py.cluster.components import Component, load_plan, minikube_exe
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import read_pid, start_daemon, terminate
from minikube_py.cluster.state import write_json
from minikube_py.lifetime import die_with_parent

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class Backoff:
    """Restart delays: `first` doubling up to `cap`, forgiven after `reset_after` s of running."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0
    stop_grace: float = 10.0

    def delay(self, failures: int) -> float:
        return Exponential(self.first, self.cap).delay(failures - 1)


@dataclasses.dataclass
class ChildStatus:
    """What status.json says about one component."""

    pid: int | None = None
    state: str = "waiting"  # waiting | running | backoff | stopped
    restarts: int = 0
    since: float = dataclasses.field(default_factory=time.time)
    last_exit: int | None = None


class Supervisor:
    """Runs `plan` until SIGTERM; see the module docstring."""

    def __init__(self, paths: ClusterPaths, plan: list[Component],
                 backoff: Backoff = Backoff()) -> None:
        self.paths = paths
        self.plan = plan
        self.backoff = backoff
        self.status = {c.name: ChildStatus() for c in plan}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        self.paths.supervisor_pid.write_text(f"{os.getpid()}\n")
        self._publish()
        keepers = [asyncio.create_task(self._keep(c), name=f"keep-{c.name}") for c in self.plan]
        try:
            await self._stopping.wait()
            log.info("supervisor stopping components=%d", len(self.plan))
            for component in reversed(self.plan):
                await self._stop(component)
        finally:
            for task in keepers:
                task.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
            self._publish()
            self.paths.supervisor_pid.unlink(missing_ok=True)

    def stop(self) -> None:
        """Ask `run` to stop every component and return (SIGTERM does this)."""
        self._stopping.set()

    async def _keep(self, c: Component) -> None:
        """Start `c` when its prerequisites hold; restart it whenever it exits."""
        st = self.status[c.name]
        failures = 0
        await self._prerequisites(c)
        while not self._stopping.is_set():
            started = time.monotonic()
            proc = await self._spawn(c)
            st.pid, st.state, st.since = proc.pid, "running", time.time()
            self._publish()
            code = await proc.wait()
            st.last_exit, st.pid = code, None
            if self._stopping.is_set():
                break
            failures = 1 if time.monotonic() - started > self.backoff.reset_after else failures + 1
            delay = self.backoff.delay(failures)
            st.restarts += 1
            st.state, st.since = "backoff", time.time()
            self._publish()
            log.warning("component exited name=%s code=%s restart_in=%.0fs", c.name, code, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _prerequisites(self, c: Component) -> None:
        """Poll (cheaply) until `c`'s files exist and its URL answers 200."""
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # loopback readiness only
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while not self._stopping.is_set():
                if all(Path(f).exists() for f in c.wait_files) and await self._answers(
                        http, c.wait_url, ctx):
                    return
                await asyncio.sleep(0.2)

    @staticmethod
    async def _answers(http: aiohttp.ClientSession, url: str | None, ctx: ssl.SSLContext) -> bool:
        if url is None:
            return True
        try:
            async with http.get(url, ssl=ctx) as resp:
                return resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

    async def _spawn(self, c: Component) -> asyncio.subprocess.Process:
        out = await asyncio.to_thread(self._open_log, c.name)
        with out:
            proc = await asyncio.create_subprocess_exec(
                *c.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent)
        self._procs[c.name] = proc
        log.info("component started name=%s pid=%d", c.name, proc.pid)
        return proc

    def _open_log(self, name: str) -> BinaryIO:
        self.paths.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.paths.log(name), "ab")  # closed by the caller

    async def _stop(self, c: Component) -> None:
        proc = self._procs.get(c.name)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), self.backoff.stop_grace)
        except TimeoutError:
            log.warning("component ignored SIGTERM, killing name=%s pid=%d", c.name, proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        self.status[c.name].state = "stopped"
        log.info("component stopped name=%s", c.name)

    def _publish(self) -> None:
        write_json(self.paths.status_file, {
            "supervisor_pid": os.getpid(),
            "components": {n: dataclasses.asdict(s) for n, s in self.status.items()},
        })


def run(paths: ClusterPaths) -> None:
    """Entry point of `minikube-py supervise`."""
    asyncio.run(Supervisor(paths, load_plan(paths)).run())


def spawn(paths: ClusterPaths, timeout: float = 10.0) -> int:
    """Start the supervisor as a detached daemon; return its pid once it is up."""
    paths.supervisor_pid.unlink(missing_ok=True)
    return start_daemon(
        [*minikube_exe(), "supervise", "--state-dir", str(paths.state_dir),
         "--log-dir", str(paths.log_dir), "--config-dir", str(paths.config_dir)],
        paths.log("supervisor"), lambda pid: read_pid(paths.supervisor_pid) == pid,
        timeout, "supervisor")


def stop(paths: ClusterPaths, timeout: float = 40.0) -> None:
    """Stop the supervisor (and so every component); SIGKILL what is left after `timeout`."""
    pid = read_pid(paths.supervisor_pid)
    if pid is not None:
        terminate([pid], timeout)
    paths.supervisor_pid.unlink(missing_ok=True)
