"""`minikube-py controller-manager`: a --cluster-cidr nodeipam cannot cut into /24s is one
clear line and exit 1, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.main import main


@pytest.mark.parametrize("cidr, message", [
    ("bad", "Expected 4 octets in 'bad'"),
    ("10.0.0.0/33", "'33' is not a valid netmask"),
    ("10.244.0.1/16", "has host bits set"),
    ("10.244.0.0/25", "smaller than one node's /24"),
])
def test_bad_cluster_cidr(tmp_path: Path, capsys: pytest.CaptureFixture[str], cidr: str,
                          message: str) -> None:
    kubeconfig = tmp_path / "k.conf"
    kubeconfig.write_text("{}")
    assert main(["controller-manager", "--kubeconfig", str(kubeconfig),
                 "--cluster-cidr", cidr]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --cluster-cidr {cidr}: ") and message in err, err
    assert len(err.splitlines()) == 1
