"""Children that must not outlive their parent (embedded etcd, api-server workers, the
supervisor's components): the kernel signals them when the parent dies, however it dies,
kill -9 included, so none is left orphaned."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A `preexec_fn`: runs in the child before exec, asking for SIGTERM at parent death."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
