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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """After a failure, repeat the random order's seed (the header with it scrolled away)."""
    seed = getattr(config.option, "randomly_seed", None)
    if exitstatus != 0 and isinstance(seed, int):
        terminalreporter.write_line(
            f"test order: random, replay it with -p randomly --randomly-seed={seed}")
