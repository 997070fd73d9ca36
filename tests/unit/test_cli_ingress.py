"""`minikube-py ingress` and `ingress-credentials`: bad flags are one clear line and
exit 1, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.main import main


@pytest.mark.parametrize("extra, message", [
    pytest.param(["--http-port", "0"], "--http-port must be within 1..65535", id="http-port"),
    pytest.param(["--https-port", "70000"], "--https-port must be within 1..65535",
                 id="https-port"),
    pytest.param(["--bind-address", "localhost"], "--bind-address localhost: not an IP",
                 id="bind-name"),
    pytest.param(["--publish-address", "node1"], "--publish-address node1: not an IP",
                 id="publish-name"),
    pytest.param(["--publish-address", "10.0.0.1,node2"], "--publish-address node2: not an IP",
                 id="publish-list-with-a-name"),
    pytest.param(["--haproxy", "/nonexistent/haproxy"],
                 "--haproxy /nonexistent/haproxy: no such program", id="no-haproxy"),
])
def test_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                   message: str) -> None:
    kubeconfig = tmp_path / "k.conf"
    kubeconfig.write_text("{}")
    code = main(["ingress", "--kubeconfig", str(kubeconfig), *extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("command", [
    ["ingress", "--kubeconfig", "/nonexistent/k.conf"],
    ["ingress-credentials", "--kubeconfig", "/nonexistent/k.conf", "--output", "/tmp/x"],
])
def test_missing_kubeconfig(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main(command) == 1
    assert "--kubeconfig /nonexistent/k.conf: no such file" in capsys.readouterr().err
