"""Which containers the kernel OOM-killed, read from its log (/dev/kmsg).

Docker's State.OOMKilled comes from containerd's shim, which watches the container's
memory cgroup (cgroup v1: an eventfd on memory.oom_control). On cgroup v1 the shim
first resolves every hierarchy listed in /proc/<pid>/cgroup to a mount point in its
own mount namespace; a hierarchy mounted only elsewhere (a systemd-as-PID1 container
mounting net_cls/perf_event/hugetlb creates them kernel-wide, and they outlive it while
their empty child cgroups remain) fails that ("loading cgroup for <pid>: cannot find
cgroup mount destination"), no watcher is set up, and every OOM kill is reported as a
plain exit 137. The kernel's own record does not depend on any of that: each memcg OOM
kill logs `oom-kill:...,task_memcg=<cgroup of the victim>,...`, the line cadvisor's
oomparser reads for the kubelet. Docker names the cgroup after the container id
(`/docker/<id>`, `/system.slice/docker-<id>.scope`), so the record says whose task died.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)

KMSG = "/dev/kmsg"
CAPACITY = 4096  # killed cgroups remembered: far more than die between two syncs
BATCH = 256  # records read per turn of the loop (~0.5 ms): a full buffer never stalls it
RECORD_MAX = 8192  # a read shorter than its record fails (EINVAL); records are < 8 KiB
CATCH_UP_WAIT = 5.0  # the backlog reads in milliseconds: longer, and run() is not running
_TASK_MEMCG = re.compile(rb"[,;]task_memcg=([^,\s]*)")
_OOM_KILL = b"oom-kill:"


def killed_memcg(record: bytes) -> str | None:
    """The victim's memory cgroup if `record` (kmsg: 'prio,seq,usec,flags;message') is
    an `oom-kill:` record naming one."""
    _, _, message = record.partition(b";")
    if not message.startswith(_OOM_KILL):
        return None
    match = _TASK_MEMCG.search(message)
    return match.group(1).decode(errors="replace") if match else None


def open_kmsg() -> int:
    """The kernel log from its oldest record: a kill from before we started still counts."""
    return os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)


class KernelOomLog:
    """Tails the kernel log for OOM kills, as cadvisor's oomparser does for the kubelet,
    remembering the last CAPACITY killed cgroups.

    Reads never block (O_NONBLOCK: each read is one record, or EAGAIN when there is
    none), so they run on the event loop, in batches, when it sees the log readable:
    no thread to stop. `run()` must be running for `oom_killed()` to answer.
    """

    def __init__(self, *, open_log: Callable[[], int] = open_kmsg,
                 read: Callable[[int, int], bytes] = os.read,
                 capacity: int = CAPACITY) -> None:
        self._open, self._read, self._capacity = open_log, read, capacity
        self._fd: int | None = None  # None: not open, or unreadable ("not known")
        self._killed: OrderedDict[str, None] = OrderedDict()  # cgroup basename, oldest first
        self._caught_up = asyncio.Event()  # the records from before run() are read

    async def run(self) -> None:
        """Until cancelled: the buffer's backlog, then each record as the kernel logs it.
        A host that does not let us read it (not root, a container) is said once."""
        try:
            self._fd = fd = self._open()
        except OSError as e:
            log.warning("kernel log unreadable, OOM kills known from Docker only err=%r", e)
            self._caught_up.set()  # lookups answer "not known"
            await asyncio.Event().wait()  # returning would stop the kubelet's other tasks
            return
        loop = asyncio.get_running_loop()
        try:
            await self._read_available()
            self._caught_up.set()
            loop.add_reader(fd, self._drain)  # more than BATCH waiting: readable again
            await asyncio.Event().wait()
        finally:
            loop.remove_reader(fd)
            self._fd = None
            os.close(fd)

    async def _read_available(self) -> None:
        """Every record logged so far, a batch per turn of the loop."""
        while self._fd is not None and not self._drain():
            await asyncio.sleep(0)

    def _drain(self) -> bool:
        """Read up to BATCH records; True once none is left. EPIPE means the kernel
        overwrote records we had not read yet: the next read returns the oldest left."""
        assert self._fd is not None
        for _ in range(BATCH):
            try:
                record = self._read(self._fd, RECORD_MAX)
            except BrokenPipeError:
                log.info("kernel log records overwritten before they were read")
                continue
            except BlockingIOError:
                return True
            if (memcg := killed_memcg(record)) is not None:
                self._remember(memcg.rpartition("/")[2])
        return False

    def _remember(self, name: str) -> None:
        self._killed[name] = None
        self._killed.move_to_end(name)
        if len(self._killed) > self._capacity:
            self._killed.popitem(last=False)

    async def oom_killed(self, container_id: str) -> bool:
        """Whether the kernel OOM-killed a task of this Docker container (cgroupfs
        driver: `.../<id>`, systemd driver: `.../docker-<id>.scope`). The exit can be
        seen before the loop read the record (the kernel logs it before the kill), so
        what the kernel has logged so far is read first. Not known (False, Docker's
        word stands) while run() is not running, rather than a pod sync waiting forever."""
        try:
            await asyncio.wait_for(self._caught_up.wait(), CATCH_UP_WAIT)
        except TimeoutError:
            log.warning("kernel log not being read, OOM kill known from Docker only "
                        "container=%s", container_id)
            return False
        await self._read_available()
        return container_id in self._killed or f"docker-{container_id}.scope" in self._killed
