"""`minikube-py agent`: bad flags are one clear line and exit 1, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.main import main


@pytest.mark.parametrize("extra, message", [
    pytest.param(["--max-pods", "0"], "--max-pods: must be positive", id="max-pods"),
    pytest.param(["--register-with-taints", "nocolon"], "--register-with-taints: taint",
                 id="bad-taint"),
    pytest.param(["--register-with-taints", "k=v:Sometimes"], "effect must be one of",
                 id="bad-effect"),
    pytest.param(["--cluster-dns", "10.96.0.10,kube-dns"],
                 "--cluster-dns: 'kube-dns' is not an IP address", id="bad-cluster-dns"),
    pytest.param(["--node-labels", "zone=a,gpu"], "--node-labels: 'gpu' is not key=value",
                 id="label-without-value"),
])
def test_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                   message: str) -> None:
    kubeconfig = tmp_path / "k.conf"
    kubeconfig.write_text("{}")
    code = main(["agent", "--kubeconfig", str(kubeconfig), "--node-name", "n", *extra])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


def test_missing_kubeconfig(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--kubeconfig", "/nonexistent/k.conf", "--node-name", "n"]) == 1
    assert "error: --kubeconfig /nonexistent/k.conf: no such file" in capsys.readouterr().err
