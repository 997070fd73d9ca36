"""Shared fixtures live in tests/fixtures; each module there is a pytest plugin."""

pytest_plugins = [
    "tests.fixtures.etcd",
    "tests.fixtures.apiserver",
    "tests.fixtures.docker",
    "tests.fixtures.netns",
    "tests.fixtures.fake_client",
]
