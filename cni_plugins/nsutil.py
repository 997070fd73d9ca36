"""Netlink sockets inside another network namespace without forking.

pyroute2's `IPRoute(netns=...)` forks a helper process per socket (~7 ms in a
large process). A netlink socket belongs to the namespace its creating thread
was in, and setns(CLONE_NEWNET) only moves the calling thread, so we hop the
current thread in, open the socket, and hop back (~1 ms). Safe in the
multi-threaded netlink service: other threads never see the hop.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def entered(path: str) -> Iterator[None]:
    """Run the block with the calling thread in the namespace at `path`."""
    target = os.open(path, os.O_RDONLY)
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            setns(target)
            try:
                yield
            finally:
                setns(own)
        finally:
            os.close(own)
    finally:
        os.close(target)


def new_iproute() -> IPRoute:
    """A request socket: no multicast groups, so no event piles up in it."""
    return IPRoute(groups=0)


def open_iproute(path: str) -> IPRoute:
    """An IPRoute bound to the namespace at `path` (OSError if it is gone); close it."""
    with entered(path):
        return new_iproute()


_local = threading.local()


def keep_host_socket() -> None:
    """Let this (long-lived) thread keep its node-side socket across requests."""
    _local.keep = True


def close_host_socket() -> None:
    """Close the kept socket; pyroute2 state is per thread, so the owner must do it."""
    ipr = getattr(_local, "ipr", None)
    if ipr is not None:
        ipr.close()
        _local.ipr = None


@contextmanager
def host_iproute() -> Iterator[IPRoute]:
    """An IPRoute in the calling thread's namespace; reused by keep_host_socket threads.

    pyroute2 sockets must stay on the thread that made them, hence per thread.
    """
    if not getattr(_local, "keep", False):
        with new_iproute() as ipr:
            yield ipr
        return
    if getattr(_local, "ipr", None) is None:
        _local.ipr = new_iproute()
    yield _local.ipr


def warm_up() -> None:
    """Import pyroute2 and build its message classes before the first real request."""
    with new_iproute() as ipr:
        ipr.link("get", index=1)
        ipr.get_addr(index=1)
        ipr.get_routes(table=254)
