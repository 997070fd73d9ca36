"""The kernel's OOM records name the container whose task was killed (agent/kubelet/kernel_oom.py).

A SOCK_SEQPACKET socket stands in for /dev/kmsg: like it, each read returns one record,
or EAGAIN when none is left, and the event loop can wait for it to be readable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet import kernel_oom
from agent.kubelet.kernel_oom import KernelOomLog
from minikube_py.client.tasks import background

CID = "9f0001940ff2c64ded679ac17d2b76ff65844c78b595417ce5b971771780faca"
OTHER = "0123456789abcdef" * 4


def oom_record(memcg: str, seq: int = 100675) -> bytes:
    """One kmsg record as Linux 6.x writes it for a memcg OOM kill."""
    return (f"6,{seq},44029073751,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
            f"cpuset={CID},mems_allowed=0,oom_memcg={memcg},task_memcg={memcg},task=tail,"
            f"pid=4904,uid=0\n").encode()


class FakeKmsg:
    """The kernel's side of the fake log, and the fds the reader opened."""

    def __init__(self, error: OSError | None = None) -> None:
        self.ours, self.kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ours.setblocking(False)  # as open_kmsg's O_NONBLOCK
        self.error, self.opened = error, list[int]()

    def open(self) -> int:
        if self.error:
            raise self.error
        self.opened.append(os.dup(self.ours.fileno()))
        return self.opened[-1]

    def log(self, *records: bytes) -> None:
        for record in records:
            self.kernel.send(record)


@asynccontextmanager
async def tailing(kmsg: FakeKmsg, **kwargs: Any) -> AsyncIterator[KernelOomLog]:
    """A KernelOomLog running on `kmsg` for the block, stopped after it."""
    oom = KernelOomLog(open_log=kmsg.open, **kwargs)
    try:
        async with background(oom.run(), "kernel-oom-log"):
            yield oom
    finally:
        kmsg.ours.close()
        kmsg.kernel.close()


@pytest.mark.parametrize(("records", "cid", "killed"), [
    pytest.param([oom_record(f"/docker/{CID}")], CID, True, id="cgroupfs driver"),
    pytest.param([oom_record(f"/system.slice/docker-{CID}.scope")], CID, True,
                 id="systemd driver"),
    pytest.param([oom_record(f"/docker/{OTHER}")], CID, False, id="another container"),
    pytest.param([oom_record(f"/docker/{CID}")], CID[:12], False, id="a prefix is not the id"),
    pytest.param([f"6,1,2,-;Memory cgroup out of memory: Killed process 4904 (tail) "
                  f"task_memcg=/docker/{CID}\n".encode()], CID, False,
                 id="only oom-kill records count"),
    pytest.param([b"4,5,6,-;oom-kill:constraint=CONSTRAINT_NONE,task=x,pid=1\n"], CID, False,
                 id="a record without task_memcg"),
    pytest.param([], CID, False, id="no records"),
])
async def test_oom_killed_from_the_records_logged_before_the_start(
        records: list[bytes], cid: str, killed: bool) -> None:
    kmsg = FakeKmsg()
    kmsg.log(*records)
    async with tailing(kmsg) as oom:
        assert await oom.oom_killed(cid) is killed


async def test_the_backlog_is_read_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_oom, "BATCH", 2)
    kmsg = FakeKmsg()
    kmsg.log(*[b"6,1,2,-;eth0: link up\n"] * 5, oom_record(f"/docker/{CID}"))
    async with tailing(kmsg) as oom:
        assert await oom.oom_killed(CID)


async def test_records_are_read_as_the_kernel_logs_them() -> None:
    """The tail reads each record when it comes, with no lookup asking for it."""
    kmsg, seen = FakeKmsg(), []

    def read(fd: int, size: int) -> bytes:
        seen.append(record := os.read(fd, size))
        return record

    async with tailing(kmsg, read=read) as oom:
        assert not await oom.oom_killed(CID)
        kmsg.log(oom_record(f"/docker/{CID}"))
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [oom_record(f"/docker/{CID}")]
        assert await oom.oom_killed(CID)


async def test_a_kill_logged_just_before_the_lookup_is_seen() -> None:
    """The exit can be observed before the loop ran the reader: the lookup reads first."""
    kmsg = FakeKmsg()
    async with tailing(kmsg) as oom:
        assert not await oom.oom_killed(CID)
        kmsg.log(oom_record(f"/docker/{CID}"))  # no await in between: the reader did not run
        assert await oom.oom_killed(CID)


async def test_only_the_latest_kills_are_kept() -> None:
    kmsg = FakeKmsg()
    first, second, third = "a" * 64, "b" * 64, "c" * 64
    kmsg.log(*[oom_record(f"/docker/{cid}") for cid in (first, second, first, third)])
    async with tailing(kmsg, capacity=2) as oom:  # killed again: first is among the latest
        assert [await oom.oom_killed(cid) for cid in (first, second, third)] == \
            [True, False, True]


async def test_overwritten_records_are_skipped() -> None:
    """EPIPE: the kernel overwrote records not read yet; the reader goes on after them."""
    kmsg, gaps = FakeKmsg(), [BrokenPipeError()]
    kmsg.log(oom_record(f"/docker/{CID}"))

    def read(fd: int, size: int) -> bytes:
        if gaps:
            raise gaps.pop()
        return os.read(fd, size)

    async with tailing(kmsg, read=read) as oom:
        assert await oom.oom_killed(CID)
    assert not gaps


async def test_an_unreadable_log_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    kmsg = FakeKmsg(PermissionError(1, "Operation not permitted", kernel_oom.KMSG))
    with caplog.at_level(logging.INFO, logger=kernel_oom.__name__):
        async with tailing(kmsg) as oom:
            assert [await oom.oom_killed(cid) for cid in (CID, OTHER)] == [False, False]
    said = [r.getMessage() for r in caplog.records if r.name == kernel_oom.__name__]
    assert len(said) == 1
    assert said[0].startswith("kernel log unreadable, OOM kills known from Docker only "
                              "err=PermissionError(1,")


async def test_stopping_closes_the_log() -> None:
    kmsg = FakeKmsg()
    kmsg.log(oom_record(f"/docker/{CID}"))
    async with tailing(kmsg) as oom:
        assert await oom.oom_killed(CID)
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(kmsg.opened[0])
    assert await oom.oom_killed(CID)  # what was read is still known


async def test_a_log_never_read_answers_not_known(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """run() never started (or stopped before it opened the log): a pod sync asking is
    answered, not left waiting."""
    monkeypatch.setattr(kernel_oom, "CATCH_UP_WAIT", 0.01)

    def never_opened() -> int:
        raise AssertionError("only run() opens the log")
    with caplog.at_level(logging.WARNING, logger=kernel_oom.__name__):
        assert not await KernelOomLog(open_log=never_opened).oom_killed(CID)
    assert [r.getMessage() for r in caplog.records] == [
        f"kernel log not being read, OOM kill known from Docker only container={CID}"]


def test_the_kernel_log_is_opened_not_to_block(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """Reads run on the event loop: one that waited for a record would stall it."""
    path = tmp_path / "kmsg"
    path.write_bytes(b"oldest")
    monkeypatch.setattr(kernel_oom, "KMSG", str(path))
    fd = kernel_oom.open_kmsg()
    try:
        assert os.get_blocking(fd) is False
        assert os.read(fd, 100) == b"oldest"
    finally:
        os.close(fd)

