"""Bad input and wrong circumstances for the cluster commands: one clear line, exit 1,
no traceback, nothing made on the host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("minikube-py"))


def run(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    return subprocess.run([*prefix, EXE, *args], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize("args, message", [
    pytest.param(["status"], "no cluster on this host", id="status-without-cluster"),
    pytest.param(["lab", "exec", "mkp-lab-1", "--", "true"], "no lab on this host",
                 id="lab-exec-without-lab"),
    pytest.param(["lab", "link", "mkp-lab-1", "down"], "no lab on this host",
                 id="lab-link-without-lab"),
    pytest.param(["lab", "up", "--nodes", "0"], "--nodes must be between 1 and 50",
                 id="lab-of-zero-nodes"),
    pytest.param(["lab", "up", "--node-monitor-grace-period", "soon"], "not a duration",
                 id="bad-duration"),
    pytest.param(["token", "create"], "run this on the control plane", id="token-without-cluster"),
    pytest.param(["token", "create", "--ttl", "0s"], "--ttl must be positive", id="zero-ttl"),
    pytest.param(["join", "--server", "http://x:6443", "--token", "abcdef.0123456789abcdef",
                  "--ca-cert-hash", "sha256:" + "a" * 64], "must be an https:// URL",
                 id="join-plain-http"),
    pytest.param(["join", "--server", "https://127.0.0.1:1", "--token", "abcdef.0123456789abcdef",
                  "--ca-cert-hash", "sha256:abc"], "sha256:<64 hex digits>", id="join-short-hash"),
])
def test_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "root"
    at = 2 if args[0] in ("lab", "token") else 1
    result = run(*args[:at], "--root", str(root), *args[at:])
    assert result.returncode in (1, 2), result  # 2: argparse's own usage errors
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (root / "state" / "cluster.json").exists()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to drop to another user")
@pytest.mark.parametrize("args", [["up"], ["down"], ["lab", "up"], ["lab", "down"]],
                         ids=["up", "down", "lab-up", "lab-down"])
def test_commands_that_change_the_host_need_root(tmp_path: Path, args: list[str]) -> None:
    tmp_path.chmod(0o777)
    at = 2 if args[0] == "lab" else 1
    result = run(*args[:at], "--root", str(tmp_path / "r"), *args[at:], user="65534")
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: run as root: a cluster needs dockerd, network "
                                     "namespaces and iptables")
