"""How our processes end. Children that must not outlive their parent (embedded etcd,
api-server workers, the supervisor's components) get a signal from the kernel when the parent
dies, however it dies, kill -9 included; long-running components stop on SIGTERM by
cancelling their work, so its cleanup runs."""

from __future__ import annotations

import asyncio
import ctypes
import signal
import subprocess
from collections.abc import Callable, Coroutine
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A `preexec_fn`: runs in the child before exec, asking for SIGTERM at parent death."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(proc: subprocess.Popen[Any], grace: float = 20.0) -> None:
    """SIGTERM, so the process runs its cleanup; SIGKILL if it has not exited in `grace` s."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_until_signalled(main: Callable[[], Coroutine[Any, Any, None]],
                        runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
                        ) -> bool:
    """Run `main()` until it returns or SIGTERM/SIGINT cancels it (True if a signal did).

    Cancelling runs its cleanup (a leader hands its Lease back, connections close) where
    Python's default SIGTERM would end the process mid-step, leaving a standby to wait out
    the lease."""
    signalled = False

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None

        def on_signal() -> None:
            nonlocal signalled
            signalled = True
            task.cancel()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        try:
            await main()
        except asyncio.CancelledError:
            if not signalled:
                raise

    runner(guarded())
    return signalled
