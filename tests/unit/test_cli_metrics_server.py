"""`minikube-py metrics-server-credentials`: bad flags are one clear line and exit 1,
nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.main import main


@pytest.mark.parametrize("extra, message", [
    pytest.param(["--address", "node1"], "--address node1: not an IP address", id="address"),
    pytest.param(["--address", "10.0.0.1", "--secure-port", "0"],
                 "--secure-port must be within 1..65535", id="port"),
    pytest.param(["--address", "10.0.0.1"], "/pki: no ca.key", id="no-ca-key"),
])
def test_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                   message: str) -> None:
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text("{}")
    code = main(["metrics-server-credentials", "--kubeconfig", str(kubeconfig),
                 "--output", str(tmp_path / "ms.conf"), *extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin.conf"]


def test_missing_kubeconfig(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics-server-credentials", "--kubeconfig", "/nonexistent/k.conf",
                 "--output", "/nonexistent/ms.conf", "--address", "10.0.0.1"]) == 1
    assert "--kubeconfig /nonexistent/k.conf: no such file" in capsys.readouterr().err


def test_a_missing_front_proxy_ca_is_one_line(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("k.conf", "ms.crt", "ms.key"):
        (tmp_path / name).write_text("")
    assert main(["metrics-server", "--kubeconfig", str(tmp_path / "k.conf"),
                 "--tls-cert-file", str(tmp_path / "ms.crt"),
                 "--tls-private-key-file", str(tmp_path / "ms.key"),
                 "--requestheader-client-ca-file", "/nonexistent/ca.crt"]) == 1
    assert capsys.readouterr().err == (
        "error: --requestheader-client-ca-file /nonexistent/ca.crt: no such file\n")
