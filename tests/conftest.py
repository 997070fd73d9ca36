"""Shared fixtures live in tests/fixtures; each module there is a pytest plugin."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.tasks",
    "tests.fixtures.etcd",
    "tests.fixtures.apiserver",
    "tests.fixtures.docker",
    "tests.fixtures.netns",
    "tests.fixtures.node_agent",
    "tests.fixtures.fake_client",
]


# Tests that own host-global things (port 6443, the lab's namespaces and switch, cni0 and
# the KUBE-/MKP- chains of the host's own iptables, "no other cluster on this host"): under
# `pytest -n N --dist loadgroup` (bin/test) they all run one after another on one worker,
# next to the others, which use unique names only.
HOST_GLOBAL = ("tests/e2e/", "tests/integration/test_cluster_cli.py",
               "tests/integration/test_join_control_plane.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(HOST_GLOBAL):
            item.add_marker(pytest.mark.xdist_group("host"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """After a failure, repeat the random order's seed (the header with it scrolled away)."""
    seed = getattr(config.option, "randomly_seed", None)
    if exitstatus != 0 and isinstance(seed, int):
        terminalreporter.write_line(
            f"test order: random, replay it with -p randomly --randomly-seed={seed}")
