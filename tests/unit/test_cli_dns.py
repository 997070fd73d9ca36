"""`minikube-py dns` and `dns-credentials`: bad flags are one clear line and exit 1,
nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.main import main


@pytest.mark.parametrize("extra, message", [
    pytest.param(["--port", "70000"], "--port and --health-port must be within 0..65535",
                 id="port"),
    pytest.param(["--ttl", "-1"], "--ttl must not be negative", id="ttl"),
    pytest.param(["--upstream", "dns.google"], "--upstream dns.google: not an IP address",
                 id="upstream-name"),
    pytest.param(["--stub-domain", "corp.example"], "expected DOMAIN=IP[:PORT]",
                 id="stub-without-servers"),
    pytest.param(["--stub-domain", "corp.example=10.0.0.1,x"],
                 "--stub-domain x: not an IP address", id="stub-bad-server"),
    pytest.param(["--bind-address", "localhost"], "--bind-address localhost: not an IP",
                 id="bind-name"),
])
def test_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                   message: str) -> None:
    kubeconfig = tmp_path / "k.conf"
    kubeconfig.write_text("{}")
    code = main(["dns", "--kubeconfig", str(kubeconfig), *extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("command", [
    ["dns", "--kubeconfig", "/nonexistent/k.conf"],
    ["dns-credentials", "--kubeconfig", "/nonexistent/k.conf", "--output", "/tmp/x"],
])
def test_missing_kubeconfig(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main(command) == 1
    assert "--kubeconfig /nonexistent/k.conf: no such file" in capsys.readouterr().err
