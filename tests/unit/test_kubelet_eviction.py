"""emptyDir sizeLimit eviction (agent/kubelet/eviction.py): usage measured as du does,
kubelet's message, Memory volumes left to their tmpfs size, each pod evicted once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.eviction import EmptyDirEviction, disk_usage, exceeded


def pod(uid: str, volumes: list[dict[str, Any]], phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"uid": uid, "namespace": "d", "name": f"p-{uid}"},
            "spec": {"volumes": volumes}, "status": {"phase": phase}}


def fill(directory: Path, nbytes: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "blob").write_bytes(b"\1" * nbytes)


def test_disk_usage_counts_allocated_blocks_and_not_link_targets(tmp_path: Path) -> None:
    fill(tmp_path / "v", 300_000)
    (tmp_path / "big").write_bytes(b"\1" * 5_000_000)
    (tmp_path / "v" / "link").symlink_to(tmp_path / "big")
    used = disk_usage(tmp_path / "v")
    assert 300_000 <= used < 1_000_000
    assert disk_usage(tmp_path / "absent") == 0


def test_kubelets_message_for_the_volume_over_its_limit(tmp_path: Path) -> None:
    def volume_dir(uid: str, name: str) -> Path:
        return tmp_path / uid / name
    fill(tmp_path / "u1" / "small", 10_000)
    fill(tmp_path / "u1" / "cache", 2_000_000)
    fill(tmp_path / "u1" / "ram", 2_000_000)
    p = pod("u1", [{"name": "small", "emptyDir": {"sizeLimit": "1Mi"}},
                   {"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                   {"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}}])
    assert exceeded(p, volume_dir) == \
        'Usage of EmptyDir volume "cache" exceeds the limit "1Mi". '
    p["spec"]["volumes"][2]["emptyDir"]["sizeLimit"] = "10Mi"
    assert exceeded(p, volume_dir) is None


async def test_each_live_pod_over_its_limit_is_evicted_once(tmp_path: Path) -> None:
    fill(tmp_path / "a" / "v", 2_000_000)
    fill(tmp_path / "b" / "v", 2_000_000)
    fill(tmp_path / "c" / "v", 2_000_000)
    limited = [{"name": "v", "emptyDir": {"sizeLimit": "1Mi"}}]
    pods = [pod("a", limited), pod("b", limited, phase="Failed"), pod("c", limited)]
    pods[2]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    evicted: list[tuple[str, str]] = []
    manager = EmptyDirEviction(lambda: pods, lambda uid, name: tmp_path / uid / name,
                               lambda p, m: evicted.append((p["metadata"]["uid"], m)))
    await manager.check()
    await manager.check()
    assert evicted == [("a", 'Usage of EmptyDir volume "v" exceeds the limit "1Mi". ')]
    manager.forget(set())
    assert manager.evicted == set()


@pytest.mark.parametrize("volumes", [[], [{"name": "v", "emptyDir": {}}],
                                     [{"name": "v", "configMap": {"name": "x"}}]])
def test_pods_without_limits_are_not_measured(tmp_path: Path,
                                              volumes: list[dict[str, Any]]) -> None:
    def volume_dir(uid: str, name: str) -> Path:
        raise AssertionError("measured")
    assert exceeded(pod("u", volumes), volume_dir) is None
