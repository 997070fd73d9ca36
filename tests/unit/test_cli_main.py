"""The CLI turns user errors into one line, whichever way it is started."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from minikube_py.apiserver import pki
from minikube_py.cli.main import main


@pytest.mark.parametrize("entry", [
    pytest.param([sys.executable, "-m", "minikube_py.cli.main"], id="python-m"),
    pytest.param([sys.executable, "-c",
                  "import sys; from minikube_py.cli.main import main; sys.exit(main())"],
                 id="console-script-entry"),
])
def test_user_error_is_one_line_without_traceback(entry: list[str]) -> None:
    result = subprocess.run([*entry, "token", "create", "--kubeconfig", "/nonexistent/admin.conf"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "no-such-thing"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "invalid choice" in result.stderr



def _one_error_line(command: list[str], kubeconfig: str, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "admin.conf"
    path.write_text(kubeconfig)
    assert main([*command, "--kubeconfig", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize("command", [
    ["token", "create"], ["token", "list"], ["dns-credentials", "--output", "/nonexistent/o"],
    ["scheduler"], ["dns"], ["agent", "--node-name", "n"],
])
def test_a_malformed_kubeconfig_is_one_line_for_every_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    err = _one_error_line(command, "clusters: [\n", tmp_path, capsys)
    assert "is not valid YAML: line 2: " in err


NO_CA = """apiVersion: v1
kind: Config
current-context: x
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
"""


@pytest.mark.parametrize("command", [
    ["token", "create"], ["dns-credentials", "--output", "/nonexistent/o"],
    ["ingress-credentials", "--output", "/nonexistent/o"],
])
def test_a_kubeconfig_without_the_ca_to_pin_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert "has no certificate-authority" in _one_error_line(command, NO_CA, tmp_path, capsys)



def test_a_servers_address_in_use_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki.write_pair(tmp_path / "ca.crt", tmp_path / "ca.key", *pki.new_ca())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _one_error_line(["ui", "--port", str(port), "--pki-dir", str(tmp_path),
                               "--root", str(tmp_path)], NO_CA, tmp_path, capsys)
    assert err == (f"error: error while attempting to bind on address ('127.0.0.1', {port}): "
                   "address already in use\n")


@pytest.mark.parametrize(("command", "message"), [
    (["up", "--node-ip", "notanip"], "argument --node-ip: not an IPv4 address: 'notanip'"),
    (["join", "--server", "s", "--token", "t", "--ca-cert-hash", "h", "--node-ip", "10.0.0"],
     "argument --node-ip: not an IPv4 address: '10.0.0'"),
    (["up", "--api-port", "0"], "argument --api-port: not a port (1-65535): '0'"),
    (["lab", "up", "--api-port", "65536"], "argument --api-port: not a port (1-65535): '65536'"),
])
def test_cluster_addresses_are_checked_before_anything_starts(
        capsys: pytest.CaptureFixture[str], command: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(command)
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")
