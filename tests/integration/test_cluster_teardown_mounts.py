"""`down` unmounts what agents mounted in their pods' directories (real mounts): agents,
a lab's too, share the host's mount namespace, so a Memory emptyDir's tmpfs and a pinned
subPath bind outlive them, and removing the tree through a bind would delete the files
of the volume it joins."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.kubelet import subpath
from minikube_py.cluster import teardown
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import NodeRecord

pytestmark = [pytest.mark.root]


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[ClusterPaths]:
    paths = ClusterPaths.under(tmp_path)
    try:
        yield paths
    finally:
        subpath.unmount(tmp_path)  # what a failed test left


def test_down_unmounts_each_nodes_pod_mounts_and_keeps_the_volumes_files(
        paths: ClusterPaths, tmp_path: Path) -> None:
    nodes = [NodeRecord("mkp-lab-1", "192.168.77.11", netns="mkp-lab-1"),
             NodeRecord("mkp-lab-2", "192.168.77.12", netns="mkp-lab-2")]
    host_volume = tmp_path / "host-volume"
    (host_volume / "sub").mkdir(parents=True)
    (host_volume / "sub" / "keep").write_text("data")
    memory = paths.node_dir(nodes[0].name, True) / "pods" / "u1" / "volumes" / "mem"
    memory.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(memory)], check=True)
    pinned = paths.node_dir(nodes[1].name, True) / "pods" / "u2" / subpath.SUBPATHS_DIR / "v"
    subpath.bind(str(host_volume), "sub", pinned / "c" / "0")
    assert len(subpath.mounted_under(tmp_path)) == 2

    assert teardown.unmount_pods(paths, nodes, lab=True) == []
    assert subpath.mounted_under(tmp_path) == []
    assert (host_volume / "sub" / "keep").read_text() == "data"
