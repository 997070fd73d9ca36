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


def open_iproute(path: str) -> IPRoute:
    """An IPRoute bound to the namespace at `path` (OSError if it is gone); close it."""
    with entered(path):
        return IPRoute()
