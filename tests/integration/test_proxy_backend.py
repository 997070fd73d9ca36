"""Streamed restores through the real iptables-legacy-restore, in a throwaway namespace:
chunks make one transaction, and input that breaks off or fails half-way applies nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cni_plugins.iptables_runner import Backend, IptablesError
from tests.fixtures.netns import Netns

pytestmark = pytest.mark.root

OPEN = "*nat\n:KUBE-SVC-STREAMTEST000000 - [0:0]\n"
RULE = "-A KUBE-SVC-STREAMTEST000000 -d 10.96.0.{} -j RETURN\n"


def feed(backend: Backend, *parts: str, fail_after: int = -1) -> None:
    """A streamed restore of `parts`, as the proxier's render thread writes one."""
    with backend.restoring() as write:
        for i, part in enumerate(parts):
            if i == fail_after:
                raise RuntimeError("rendering failed")
            write(part)


def nat(ns: Netns) -> str:
    return ns.run("iptables-legacy-save", "-t", "nat").stdout


def test_chunks_make_one_transaction(netns: Callable[..., Netns]) -> None:
    ns = netns("node")
    feed(Backend("legacy", ns.name), OPEN, RULE.format(1), RULE.format(2), "COMMIT\n")
    saved = nat(ns)
    assert "-A KUBE-SVC-STREAMTEST000000 -d 10.96.0.1/32 -j RETURN" in saved
    assert "-A KUBE-SVC-STREAMTEST000000 -d 10.96.0.2/32 -j RETURN" in saved


def test_input_breaking_off_applies_nothing(netns: Callable[..., Netns]) -> None:
    ns = netns("node")
    with pytest.raises(RuntimeError, match="rendering failed"):
        feed(Backend("legacy", ns.name), OPEN, RULE.format(1), "COMMIT\n", fail_after=2)
    assert "STREAMTEST" not in nat(ns)


def test_restore_failing_half_way_raises_and_applies_nothing(
        netns: Callable[..., Netns]) -> None:
    ns = netns("node")
    many = "".join(RULE.format(i % 250) for i in range(20_000))  # more than a pipe holds
    with pytest.raises(IptablesError, match="at line: 3"):
        feed(Backend("legacy", ns.name), OPEN, "-A KUBE-SVC-STREAMTEST000000 -j NO-SUCH-CHAIN\n",
             many, "COMMIT\n")
    assert "STREAMTEST" not in nat(ns)
