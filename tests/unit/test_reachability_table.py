"""The netpol matrix's truth tables (tests/fixtures/reachability.py): globs pick the pairs
as upstream's Peer{Namespace, Pod} does, and a mismatch prints the three tables."""

from __future__ import annotations

import pytest

from tests.fixtures.reachability import Reachability

PODS = ["x/a", "x/b", "y/a"]


def test_expect_peer_globs_namespaces_and_pods_and_skips_loopback() -> None:
    r = Reachability(PODS).expect_peer("*", "x/*", False).expect("x/b", "x/a", True)
    assert r.expected == {
        ("x/a", "x/b"): False, ("x/a", "y/a"): True,
        ("x/b", "x/a"): True, ("x/b", "y/a"): True,
        ("y/a", "x/a"): False, ("y/a", "x/b"): False}
    with pytest.raises(KeyError):
        r.expect("x/a", "x/a", False)


def test_copy_is_independent() -> None:
    base = Reachability(PODS)
    other = base.copy().expect_peer("y/*", "*", False)
    assert all(base.expected.values()) and not other.expected[("y/a", "x/a")]


def test_report_prints_expected_observed_and_the_differing_cells() -> None:
    want = Reachability(PODS).expect_peer("*", "x/a", False)
    observed = dict(want.expected) | {("y/a", "x/a"): True}
    del observed[("x/b", "y/a")]  # a probe that said nothing
    assert want.wrong(observed) == [("x/b", "y/a"), ("y/a", "x/a")]
    assert want.report(observed, "port 80").splitlines() == [
        "port 80: 2 of 6 pairs differ",
        "expected:",
        "-    x/a  x/b  y/a",
        "x/a  -    .    .",
        "x/b  X    -    .",
        "y/a  X    .    -",
        "observed:",
        "-    x/a  x/b  y/a",
        "x/a  -    .    .",
        "x/b  X    -    ?",
        "y/a  .    .    -",
        "comparison:",
        "-    x/a  x/b  y/a",
        "x/a  -    .    .",
        "x/b  .    -    X",
        "y/a  X    .    -"]
