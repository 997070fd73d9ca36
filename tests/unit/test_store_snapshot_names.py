"""A snapshot name prefix (`etcd snapshot save --name`) is a file name in the snapshots
directory: one that would leave it ('../x', '/x') or hide it ('.x') is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.store import snapshots


@pytest.mark.parametrize("prefix", ["../evil", "a/b", ".hidden", "-x", "a\nb", ""])
def test_a_name_prefix_that_is_no_plain_file_name_is_refused(tmp_path: Path,
                                                             prefix: str) -> None:
    with pytest.raises(snapshots.SnapshotError, match="snapshot name"):
        snapshots.save("http://127.0.0.1:1", tmp_path / "snapshots", prefix, node="n")
    assert list(tmp_path.iterdir()) == []
