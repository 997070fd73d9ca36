"""The kernel's OOM records name the container whose task was killed (agent/kubelet/kernel_oom.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.kubelet.kernel_oom import killed_memcgs, oom_killed, read_records

CID = "9f0001940ff2c64ded679ac17d2b76ff65844c78b595417ce5b971771780faca"
OTHER = "0123456789abcdef" * 4


def oom_record(memcg: str, seq: int = 100675) -> bytes:
    """One kmsg record as Linux 6.x writes it for a memcg OOM kill."""
    return (f"6,{seq},44029073751,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
            f"cpuset={CID},mems_allowed=0,oom_memcg={memcg},task_memcg={memcg},task=tail,"
            f"pid=4904,uid=0\n").encode()


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
def test_oom_killed_from_records(records: list[bytes], cid: str, killed: bool) -> None:
    assert oom_killed(cid, killed_memcgs(records)) is killed


def test_an_unreadable_log_reads_as_no_records(tmp_path: Path) -> None:
    assert read_records(str(tmp_path / "missing")) == []
