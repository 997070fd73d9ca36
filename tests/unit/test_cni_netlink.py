"""Netlink outcomes decided by errno: what the caller wanted is not an error."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from cni_plugins.netlink import added, deleted


def failing(code: int) -> Callable[..., None]:
    def request(*_args: object, **_kwargs: object) -> None:
        raise NetlinkError(code, "kernel says no")
    return request


def test_a_request_that_works_reports_it_did_something() -> None:
    calls: list[tuple[object, ...]] = []
    assert added(lambda *a, **k: calls.append((a, k)), "add", ifname="x")
    assert deleted(lambda *a, **k: calls.append((a, k)), "del", index=3)
    assert calls == [(("add",), {"ifname": "x"}), (("del",), {"index": 3})]


def test_add_of_what_exists_is_done() -> None:
    assert added(failing(errno.EEXIST)) is False


@pytest.mark.parametrize("code", [errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL])
def test_delete_of_what_is_gone_is_done(code: int) -> None:
    assert deleted(failing(code)) is False


@pytest.mark.parametrize("code", [errno.EPERM, errno.EINVAL, errno.EBUSY, errno.ENODEV])
def test_add_fails_on_anything_but_exists(code: int) -> None:
    with pytest.raises(NetlinkError) as info:
        added(failing(code))
    assert info.value.code == code


@pytest.mark.parametrize("code", [errno.EPERM, errno.EINVAL, errno.EBUSY, errno.EEXIST])
def test_delete_fails_on_anything_but_gone(code: int) -> None:
    with pytest.raises(NetlinkError) as info:
        deleted(failing(code))
    assert info.value.code == code
