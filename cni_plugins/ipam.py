"""Built-in IPAM in host-local's on-disk layout.

<dataDir>/<network>/ holds one file per leased IP (named by the address,
content "<containerID>\\r\\n<ifname>"), created O_EXCL so two writers can never
own the same address, plus `last_reserved_ip.0` (where the round-robin scan
resumes) and `lock`, flock'ed around every allocate/release/GC so concurrent
ADDs in threads or processes serialise. Leases live on disk, so they survive
agent and host restarts; the layout is the reference plugin's, so its tools
and habits apply.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cni_plugins.conf import NetConf
from cni_plugins.errors import IO_FAILURE, TRY_AGAIN_LATER, CniError

IPv4 = ipaddress.IPv4Address
LAST_RESERVED = "last_reserved_ip.0"


@dataclass(frozen=True)
class Lease:
    ip: IPv4
    container_id: str
    ifname: str


class LeaseStore:
    """The lease directory of one network; callers hold `locked()` around changes."""

    def __init__(self, data_dir: str, network: str) -> None:
        self.dir = os.path.join(data_dir, network)

    @contextmanager
    def locked(self) -> Iterator[None]:
        try:
            os.makedirs(self.dir, mode=0o755, exist_ok=True)
            fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise CniError(IO_FAILURE, f"failed to open IPAM store {self.dir}", str(e)) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def reserve(self, ip: IPv4, container_id: str, ifname: str) -> bool:
        path = os.path.join(self.dir, str(ip))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{container_id}\r\n{ifname}")
        return True

    def last_reserved(self) -> IPv4 | None:
        try:
            with open(os.path.join(self.dir, LAST_RESERVED)) as f:
                return IPv4(f.read().strip())
        except (OSError, ValueError):
            return None

    def set_last_reserved(self, ip: IPv4) -> None:
        tmp = os.path.join(self.dir, LAST_RESERVED + ".tmp")
        with open(tmp, "w") as f:
            f.write(str(ip))
        os.replace(tmp, os.path.join(self.dir, LAST_RESERVED))

    def leases(self) -> list[Lease]:
        out = []
        for name in os.listdir(self.dir) if os.path.isdir(self.dir) else ():
            try:
                ip = IPv4(name)
            except ValueError:
                continue
            try:
                with open(os.path.join(self.dir, name), newline="") as f:
                    container_id, _, ifname = f.read().partition("\r\n")
            except FileNotFoundError:
                continue
            out.append(Lease(ip, container_id.strip(), ifname.strip()))
        return out

    def release(self, ip: IPv4) -> None:
        try:
            os.unlink(os.path.join(self.dir, str(ip)))
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise


def _candidates(conf: NetConf, last: IPv4 | None) -> Iterator[IPv4]:
    """Round robin over the range, starting after the last reserved address."""
    start, end = int(conf.range_start), int(conf.range_end)
    first = int(last) + 1 if last is not None and start <= int(last) < end else start
    for n in (*range(first, end + 1), *range(start, first)):
        if n != int(conf.gateway):
            yield IPv4(n)


def allocate(conf: NetConf, container_id: str, ifname: str) -> IPv4:
    """Lease one free address to (container_id, ifname); code 11 when the range is full."""
    store = LeaseStore(conf.data_dir, conf.name)
    with store.locked():
        for lease in store.leases():
            if (lease.container_id, lease.ifname) == (container_id, ifname):
                raise CniError(TRY_AGAIN_LATER, f"{lease.ip} is already allocated to "
                               f"{container_id}/{ifname}; DEL it before a new ADD")
        for ip in _candidates(conf, store.last_reserved()):
            if store.reserve(ip, container_id, ifname):
                store.set_last_reserved(ip)
                return ip
    raise CniError(TRY_AGAIN_LATER, f"no IP addresses available in range "
                   f"{conf.range_start}-{conf.range_end} of network {conf.name}")


def release(conf: NetConf, container_id: str, ifname: str) -> list[IPv4]:
    """Drop the leases of (container_id, ifname); nothing to drop is fine (DEL is idempotent)."""
    store = LeaseStore(conf.data_dir, conf.name)
    with store.locked():
        gone = [lease.ip for lease in store.leases()
                if (lease.container_id, lease.ifname) == (container_id, ifname)]
        for ip in gone:
            store.release(ip)
    return gone


def lookup(conf: NetConf, container_id: str, ifname: str) -> list[IPv4]:
    store = LeaseStore(conf.data_dir, conf.name)
    return [lease.ip for lease in store.leases()
            if (lease.container_id, lease.ifname) == (container_id, ifname)]


def gc(conf: NetConf, valid: set[tuple[str, str]]) -> list[IPv4]:
    """Release every lease whose attachment is not in `valid` (CNI 1.1 GC)."""
    store = LeaseStore(conf.data_dir, conf.name)
    with store.locked():
        stale = [lease.ip for lease in store.leases()
                 if (lease.container_id, lease.ifname) not in valid]
        for ip in stale:
            store.release(ip)
    return stale
