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

import os
import re

KMSG = "/dev/kmsg"
_TASK_MEMCG = re.compile(rb"[,;]task_memcg=([^,\s]*)")
_OOM_KILL = b"oom-kill:"


def killed_memcgs(records: list[bytes]) -> set[str]:
    """The victims' memory cgroups named by the `oom-kill:` records among `records`
    (kmsg records: 'prio,seq,usec,flags;message')."""
    found = set()
    for record in records:
        _, _, message = record.partition(b";")
        if not message.startswith(_OOM_KILL):
            continue
        match = _TASK_MEMCG.search(message)
        if match:
            found.add(match.group(1).decode(errors="replace"))
    return found


def read_records(path: str = KMSG) -> list[bytes]:
    """Every record now in the kernel's ring buffer (blocking file reads: call it in a
    thread). Unreadable (not root, no /dev/kmsg) reads as empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    records = []
    try:
        while True:
            try:
                record = os.read(fd, 8192)  # one record per read
            except BrokenPipeError:  # overwritten while we read: go on with the next one
                continue
            except OSError:  # EAGAIN: nothing more now
                break
            if not record:
                break
            records.append(record)
    finally:
        os.close(fd)
    return records


def oom_killed(container_id: str, memcgs: set[str]) -> bool:
    """Whether one of the killed tasks was in this Docker container's own cgroup
    (cgroupfs driver: `.../<id>`, systemd driver: `.../docker-<id>.scope`)."""
    names = {container_id, f"docker-{container_id}.scope"}
    return any(memcg.rpartition("/")[2] in names for memcg in memcgs)
