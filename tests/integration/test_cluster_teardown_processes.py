"""`down` stops the processes naming its state dir on this host, never a container's: a
container running its own cluster (install.sh's default paths, as the real-host tests'
systemd hosts do) shows the same command lines in the host's process list."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.cluster import teardown
from minikube_py.cluster.paths import ClusterPaths

pytestmark = [pytest.mark.root]


@pytest.fixture
def container(busybox_image: str, tmp_path: Path) -> Iterator[str]:
    """A container whose process names tmp_path's state dir; its host pid."""
    name = f"mkp-teardown-{uuid.uuid4().hex[:8]}"
    state_dir = ClusterPaths.under(tmp_path).state_dir
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, busybox_image,
                    "sh", "-c", "sleep 60; :", f"{state_dir}/in-container"],
                   check=True, capture_output=True)
    try:
        yield subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name], check=True,
                             capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)


def test_our_processes_are_this_hosts_not_a_containers(container: str, tmp_path: Path) -> None:
    paths = ClusterPaths.under(tmp_path)
    host = subprocess.Popen(["sh", "-c", "sleep 60; :", f"{paths.state_dir}/on-host"],
                            start_new_session=True)
    try:
        found = {p.pid for p in teardown.our_processes(paths)}
        assert host.pid in found
        assert int(container) not in found
    finally:
        os.killpg(host.pid, signal.SIGKILL)  # its sleep too
        host.wait()
