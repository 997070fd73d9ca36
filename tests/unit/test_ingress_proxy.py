"""The HAProxy master CLI client (minikube_py/ingress/proxy.py) against a stand-in master
socket: a stop cancelling a command must stop it, however the cancel and the answer
race (Python 3.11's wait_for dropped such a cancel and the controller never stopped)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from minikube_py.ingress.proxy import HAProxy, Paths


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"1 master 3 [failed: 0] 0d00h00m01s 2.6.12\n")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


async def test_show_proc_is_read(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    async with await asyncio.start_unix_server(_answer, str(paths.master_socket)):
        assert await HAProxy(paths)._read_reloads() == (3, 0)


async def test_a_cancelled_command_is_cancelled_whatever_the_timing(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    proxy = HAProxy(paths)
    finished = 0
    async with await asyncio.start_unix_server(_answer, str(paths.master_socket)):
        for i in range(300):  # cancels landing at every step of connect/write/read
            task = asyncio.create_task(proxy._command("show proc"))
            for _ in range(i % 7):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            finished += not task.cancelled()
    assert finished == 0, f"{finished} of 300 cancels were dropped"
