"""Container usage read from cgroup files, as cadvisor does it for the kubelet.

Only files are read: no Docker stats streams (each costs a goroutine and a JSON stream
per container in dockerd). Both layouts are handled, since hosts differ:
- cgroup v2 (`/sys/fs/cgroup/cgroup.controllers` exists): one tree; CPU from
  `cpu.stat` usage_usec, memory from `memory.current` and `memory.stat`.
- cgroup v1 / hybrid (this project's Debian VMs: dockerd's cgroupfs driver, v1 memory
  and cpuacct controllers): `cpuacct/<path>/cpuacct.usage` (ns) and
  `memory/<path>/memory.usage_in_bytes` + `memory.stat` (total_* keys: hierarchical).
Docker puts a container at `docker/<id>` (cgroupfs driver) or
`system.slice/docker-<id>.scope` (systemd driver); the first that exists is used and
remembered. The working set is usage minus inactive file pages (cadvisor's definition,
what `kubectl top` and the HPA see).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Usage:
    """One cgroup's counters at one moment."""

    cpu_ns: int
    memory_usage: int
    working_set: int
    rss: int
    page_faults: int
    major_page_faults: int


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


def _read_keyed(path: Path) -> dict[str, int]:
    """A flat keyed file (cpu.stat, memory.stat): 'key value' per line."""
    found: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            found[key] = int(value)
    return found


class CgroupReader:
    """Usage of Docker containers by id, from whichever cgroup layout the host has."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()
        self._paths: dict[str, str] = {}

    def _dir(self, controller: str, relative: str) -> Path:
        return self.root / relative if self.v2 else self.root / controller / relative

    def path_of(self, container_id: str) -> str | None:
        """The container's cgroup path relative to a hierarchy root, if it has one."""
        known = self._paths.get(container_id)
        if known is not None and self._dir("memory", known).is_dir():
            return known
        for relative in (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"):
            if self._dir("memory", relative).is_dir():
                self._paths[container_id] = relative
                return relative
        self._paths.pop(container_id, None)
        return None

    def forget_except(self, container_ids: set[str]) -> None:
        """Drop remembered paths of containers that are gone."""
        for cid in set(self._paths) - container_ids:
            del self._paths[cid]

    def usage(self, container_id: str) -> Usage | None:
        """The container's counters, or None when it has no cgroup (exited, elsewhere)."""
        relative = self.path_of(container_id)
        if relative is None:
            return None
        return self._v2_usage(relative) if self.v2 else self._v1_usage(relative)

    def pids(self, container_id: str) -> list[int]:
        """Processes in the container's cgroup (its first is the sandbox's netns holder)."""
        relative = self.path_of(container_id)
        if relative is None:
            return []
        try:
            text = (self._dir("memory", relative) / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split() if p.isdigit()]

    def _v2_usage(self, relative: str) -> Usage | None:
        base = self.root / relative
        cpu = _read_keyed(base / "cpu.stat").get("usage_usec")
        current = _read_int(base / "memory.current")
        if cpu is None or current is None:
            return None
        stat = _read_keyed(base / "memory.stat")
        return Usage(cpu * 1000, current, max(0, current - stat.get("inactive_file", 0)),
                     stat.get("anon", 0), stat.get("pgfault", 0), stat.get("pgmajfault", 0))

    def _v1_usage(self, relative: str) -> Usage | None:
        cpu = _read_int(self.root / "cpuacct" / relative / "cpuacct.usage")
        memory = self.root / "memory" / relative
        current = _read_int(memory / "memory.usage_in_bytes")
        if cpu is None or current is None:
            return None
        stat = _read_keyed(memory / "memory.stat")
        return Usage(cpu, current, max(0, current - stat.get("total_inactive_file", 0)),
                     stat.get("total_rss", 0), stat.get("total_pgfault", 0),
                     stat.get("total_pgmajfault", 0))


def network_counters(pid: int, proc: Path = Path("/proc")) -> dict[str, tuple[int, ...]]:
    """Per interface (rx_bytes, rx_errors, tx_bytes, tx_errors) as seen in the network
    namespace of `pid` (/proc/<pid>/net/dev: a file read, no netlink, no setns)."""
    try:
        lines = (proc / str(pid) / "net" / "dev").read_text().splitlines()[2:]
    except OSError:
        return {}
    found: dict[str, tuple[int, ...]] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) >= 11 and name.strip() != "lo":
            found[name.strip()] = (int(fields[0]), int(fields[2]), int(fields[8]),
                                   int(fields[10]))
    return found

