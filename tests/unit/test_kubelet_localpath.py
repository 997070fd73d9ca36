"""Which directory the agent removes when a local-path volume is deleted: only the
volume's own directory right under a storage root, never a path a volume object merely
names (agent/kubelet/localpath.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.kubelet.localpath import directory_to_remove
from minikube_py.api.types import Object

NAME = "pvc-0b6f3a8e-1d2c-4e5f-8a9b-0c1d2e3f4a5b"


def volume(path: str, *, name: str = NAME, policy: str = "Delete",
           provisioner: str = "rancher.io/local-path") -> Object:
    return {"metadata": {"name": name,
                         "annotations": {"pv.kubernetes.io/provisioned-by": provisioner}},
            "spec": {"persistentVolumeReclaimPolicy": policy, "hostPath": {"path": path}}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "storage").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "storage" / "link").symlink_to(tmp_path / "elsewhere")
    return tmp_path / "storage"


def test_its_own_directory_under_a_root_is_removed(root: Path) -> None:
    own = root / f"{NAME}_default_data"
    assert directory_to_remove(volume(str(own)), [root]) == own
    other = root.parent / "other"
    other.mkdir()
    assert directory_to_remove(volume(f"{other}/{NAME}_d_x"), [root, other]) == \
        other / f"{NAME}_d_x"


@pytest.mark.parametrize("path", [
    pytest.param("/etc/{name}", id="outside-every-root"),
    pytest.param("/{name}", id="filesystem-root"),
    pytest.param("{root}/../{name}_d_x", id="dot-dot"),
    pytest.param("{root}/./{name}_d_x", id="dot"),
    pytest.param("{root}/link/{name}_d_x", id="through-a-symlink"),
    pytest.param("{root}/sub/{name}_d_x", id="below-the-root"),
    pytest.param("{root}/pvc-other_d_x", id="another-volumes-name"),
    pytest.param("{root}/{name}x_d_x", id="name-prefix-only"),
    pytest.param("relative/{name}", id="relative"),
])
def test_any_other_path_is_left_alone(root: Path, path: str) -> None:
    assert directory_to_remove(volume(path.format(root=root, name=NAME)), [root]) is None


def test_only_delete_policy_local_path_volumes_named_pvc(root: Path) -> None:
    own = str(root / f"{NAME}_default_data")
    assert directory_to_remove(volume(own, policy="Retain"), [root]) is None
    assert directory_to_remove(volume(own, provisioner="example.com/nfs"), [root]) is None
    assert directory_to_remove(volume(f"{root}/data_d_x", name="data"), [root]) is None
