"""What the benchmarks share: free ports, a scratch api-server of their own, an admin
session to it, and the order of alternated rounds, so each script holds only what it
measures."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp

from minikube_py.lifetime import stop_process

CONCURRENCY = 64
Arm = TypeVar("Arm")
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def extract(rev: str, into: Path) -> None:
    """The source of `rev` (its packages only) under `into`: a baseline to run beside this
    tree's code with PYTHONPATH pointing there."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "minikube_py", "agent",
                              "cni_plugins"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


async def bounded(n: int, fn: Callable[[int], Awaitable[object]],
                  concurrency: int = CONCURRENCY) -> float:
    """Run fn(0..n-1) with `concurrency` in flight; returns the rate per second."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await fn(i)
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


def alternated_rounds(rounds: int, arms: Sequence[Arm]) -> Iterator[tuple[int, list[Arm]]]:
    """Each round's number and its arms in the order to measure them, rotated by one every
    round (two arms, baseline and candidate: they swap). This machine is shared and its
    speed drifts within minutes, so a figure is compared only with the other arms' of its
    own round, and no arm always goes first (into warmer caches, or a burst of load)."""
    for r in range(rounds):
        k = r % len(arms)
        yield r, [*arms[k:], *arms[:k]]


def start_apiserver(data: Path, port: int, *flags: str, env: dict[str, str] | None = None
                    ) -> subprocess.Popen[bytes]:
    """`minikube-py apiserver` on `data` (its own etcd unless flags say otherwise), once its
    /readyz answers; its log is beside `data`. `env`: another environment (PYTHONPATH to
    another source tree, to compare with a baseline commit)."""
    data.parent.mkdir(parents=True, exist_ok=True)
    with open(data.parent / f"log-{port}", "wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen([str(Path(sys.executable).parent / "minikube-py"), "apiserver",
                                 "--data-dir", str(data), "--port", str(port), *flags],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            ctx = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx,
                                        timeout=2) as r:
                if r.status == 200:
                    return proc
        except (OSError, ssl.SSLError):
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"api-server did not become ready; see {data.parent / f'log-{port}'}")


def stop(*procs: subprocess.Popen[bytes]) -> None:
    """Terminate each process, in order, killing one that has not exited within 20 s."""
    for proc in procs:
        stop_process(proc)


@dataclass(frozen=True)
class Scratch:
    """A running scratch api-server: where its files are and how to reach it as admin."""

    tmp: Path
    data: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.data / "pki" / "admin.token").read_text().strip()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.data / "pki" / "ca.crt"))

    def session(self, limit: int = CONCURRENCY) -> aiohttp.ClientSession:
        """An admin session with `limit` connections (a benchmark's concurrency)."""
        return aiohttp.ClientSession(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"},
            connector=aiohttp.TCPConnector(ssl=self.ssl_context(), limit=limit))


@contextlib.contextmanager
def scratch_apiserver(prefix: str, *flags: str) -> Iterator[Scratch]:
    """An api-server in a new temporary directory, stopped and removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data, port = tmp / "data", free_port()
    try:
        proc = start_apiserver(data, port, *flags)
        try:
            yield Scratch(tmp, data, port, proc)
        finally:
            stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
