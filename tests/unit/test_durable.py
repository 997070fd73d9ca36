"""durable.write_file: private from the first byte, on disk before it replaces anything."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py import durable
from minikube_py.apiserver import pki


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool]]]:
    """Every fsync, as (what the fd is, whether it is a directory)."""
    seen: list[tuple[str, bool]] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        seen.append((target, stat.S_ISDIR(os.fstat(fd).st_mode)))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    yield seen


@pytest.mark.parametrize("umask", [0o000, 0o077], ids=["umask-0", "umask-077"])
def test_mode_is_exact_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        durable.write_file(tmp_path / "key", b"k")
        durable.write_file(tmp_path / "cert", "c", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cert").stat().st_mode) == 0o644
    assert (tmp_path / "cert").read_text() == "c"


def test_the_file_then_its_directory_are_synced_and_no_tmp_is_left(
        tmp_path: Path, synced: list[tuple[str, bool]]) -> None:
    target = tmp_path / "ca.key"
    target.write_bytes(b"old")
    target.chmod(0o644)
    durable.write_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    files = [t for t, is_dir in synced if not is_dir]
    assert len(files) == 1 and files[0].endswith(".tmp")  # synced before the rename
    assert synced[-1] == (str(tmp_path), True)
    assert os.listdir(tmp_path) == ["ca.key"]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "admin.conf"
    target.write_bytes(b"old")

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        durable.write_file(target, b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["admin.conf"]


def test_a_leftover_world_readable_tmp_does_not_leak_the_key(tmp_path: Path) -> None:
    leftover = tmp_path / f".sa.key.{os.getpid()}.tmp"
    leftover.write_bytes(b"")
    leftover.chmod(0o666)
    durable.write_file(tmp_path / "sa.key", b"secret")
    assert stat.S_IMODE((tmp_path / "sa.key").stat().st_mode) == 0o600


def test_the_pki_is_written_durably(tmp_path: Path, synced: list[tuple[str, bool]]) -> None:
    paths = pki.ensure(tmp_path / "pki", service_ip="10.96.0.1")
    pki.write_kubeconfig(tmp_path / "admin.conf", server="https://127.0.0.1:6443",
                         ca_cert=paths.ca_cert, token="t")
    # The temporary files synced: ".<name>.<pid>.tmp".
    written = {Path(t).name[1:].rsplit(".", 2)[0] for t, is_dir in synced if not is_dir}
    for path in (paths.ca_key, paths.ca_cert, paths.serving_key, paths.serving_cert,
                 paths.sa_key, paths.sa_pub, paths.admin_token_file, tmp_path / "admin.conf"):
        assert path.name in written, path
    for key in (paths.ca_key, paths.serving_key, paths.sa_key, paths.admin_token_file,
                tmp_path / "admin.conf"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(paths.ca_cert.stat().st_mode) == 0o644
