"""Shared fixtures live in tests/fixtures; each module there is a pytest plugin."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.tasks",
    "tests.fixtures.etcd",
    "tests.fixtures.apiserver",
    "tests.fixtures.docker",
    "tests.fixtures.netns",
    "tests.fixtures.node_agent",
    "tests.fixtures.fake_client",
]

# Property tests: the same examples every run and no per-example time limit, so a CI
# verdict never depends on the draw or the machine's load (a test's own @settings still
# wins field by field). HYPOTHESIS_PROFILE=explore draws fresh examples, to hunt on demand.
settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# Tests that own host-global things (port 6443, the lab's namespaces and switch, cni0 and
# the KUBE-/MKP- chains of the host's own iptables, "no other cluster on this host"): under
# `pytest -n N` (bin/test) they form one unit of work, run one after another on one worker,
# while the others (unique names only) are shared out one test at a time beside them.
HOST_GLOBAL = ("tests/e2e/", "tests/integration/test_cluster_cli.py",
               "tests/integration/test_join_control_plane.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load-by-scope with one scope for the host-global tests and one per test
    otherwise; scopes go out largest first, so that one starts at once. (Not xdist_group
    markers: xdist 3.8 tags those by rewriting Item._nodeid, which pytest 9 ignores.)"""
    from xdist.scheduler import LoadScopeScheduling

    class HostGlobalApart(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            return "host-global" if nodeid.startswith(HOST_GLOBAL) else nodeid

    return HostGlobalApart(config, log)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """After a failure, repeat the random order's seed (the header with it scrolled away)."""
    seed = getattr(config.option, "randomly_seed", None)
    if exitstatus != 0 and isinstance(seed, int):
        terminalreporter.write_line(
            f"test order: random, replay it with -p randomly --randomly-seed={seed}")
