"""`minikube-py etcd` on a host without the api-server's etcd client certificates, and bad
flags: one error line naming what is missing or wrong, before any etcd is dialled."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.main import main


@pytest.mark.parametrize("command", [
    ["etcd", "member", "list"], ["etcd", "member", "remove", "cp2"],
    ["etcd", "snapshot", "save", "--etcd-servers", "https://127.0.0.1:2379"],
    ["node", "remove", "cp2", "--kubeconfig", "{tmp}/admin.conf"],
])
def test_no_etcd_client_certificates_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    (tmp_path / "admin.conf").write_text("")  # `node remove` looks for it first
    argv = [arg.format(tmp=tmp_path) for arg in command]
    assert main([*argv, "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: no {tmp_path}/pki/etcd/ca.crt: run this on a control-plane host, "
                   "or give --data-dir (the api-server's) or "
                   "--etcd-cafile/--etcd-certfile/--etcd-keyfile\n")


def test_prune_names_its_own_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["etcd", "snapshot", "prune", "--data-dir", str(tmp_path),
                 "--retention", "0"]) == 1
    assert capsys.readouterr().err == "error: --retention must be at least 1\n"


@pytest.mark.parametrize("verb", [["ls"], ["restore", "snap"]])
def test_name_is_only_where_it_selects(verb: list[str]) -> None:
    """`ls` lists and `restore` takes any snapshot: a --name there would be ignored."""
    with pytest.raises(SystemExit) as exited:
        main(["etcd", "snapshot", *verb, "--name", "nightly"])
    assert exited.value.code == 2
