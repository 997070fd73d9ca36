"""Netlink requests decided by errno, as pyroute2's `ensure()` does.

An add of what exists (EEXIST) and a delete of what is gone (ENODEV, ENOENT, ESRCH,
EADDRNOTAVAIL) are the outcomes the caller wanted, so they are not errors; every
other `NetlinkError` is, and propagates. Decided by `.code`, never by message text.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

GONE = frozenset({errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL})


def added(request: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run an add; True if it made something, False if it existed already."""
    try:
        request(*args, **kwargs)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
        return False
    return True


def deleted(request: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Run a delete; True if it removed something, False if it was gone already."""
    try:
        request(*args, **kwargs)
    except NetlinkError as e:
        if e.code not in GONE:
            raise
        return False
    return True
