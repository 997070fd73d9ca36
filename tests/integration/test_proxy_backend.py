"""Streamed restores through the real iptables-legacy-restore, in a throwaway namespace:
chunks make one transaction, and input that breaks off or fails half-way applies nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from agent.proxy.backend import Backend, IptablesError
from tests.fixtures.netns import Netns

pytestmark = pytest.mark.root

OPEN = "*nat\n:KUBE-SVC-STREAMTEST000000 - [0:0]\n"
RULE = "-A KUBE-SVC-STREAMTEST000000 -d 10.96.0.{} -j RETURN\n"


async def chunks(*parts: str, fail_after: int = -1) -> AsyncIterator[str]:
    for i, part in enumerate(parts):
        if i == fail_after:
            raise RuntimeError("rendering failed")
        yield part


def nat(ns: Netns) -> str:
    return ns.run("iptables-legacy-save", "-t", "nat").stdout


async def test_chunks_make_one_transaction(netns: Callable[..., Netns]) -> None:
    ns = netns("node")
    await Backend("legacy", ns.name).restore(
        chunks(OPEN, RULE.format(1), RULE.format(2), "COMMIT\n"))
    saved = nat(ns)
    assert "-A KUBE-SVC-STREAMTEST000000 -d 10.96.0.1/32 -j RETURN" in saved
    assert "-A KUBE-SVC-STREAMTEST000000 -d 10.96.0.2/32 -j RETURN" in saved


async def test_input_breaking_off_applies_nothing(netns: Callable[..., Netns]) -> None:
    ns = netns("node")
    with pytest.raises(RuntimeError, match="rendering failed"):
        await Backend("legacy", ns.name).restore(
            chunks(OPEN, RULE.format(1), "COMMIT\n", fail_after=2))
    assert "STREAMTEST" not in nat(ns)


async def test_restore_failing_half_way_raises_and_applies_nothing(
        netns: Callable[..., Netns]) -> None:
    ns = netns("node")
    many = "".join(RULE.format(i % 250) for i in range(20_000))  # more than a pipe holds
    with pytest.raises(IptablesError, match="at line: 3"):
        await Backend("legacy", ns.name).restore(
            chunks(OPEN, "-A KUBE-SVC-STREAMTEST000000 -j NO-SUCH-CHAIN\n", many, "COMMIT\n"))
    assert "STREAMTEST" not in nat(ns)
