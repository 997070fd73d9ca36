"""`minikube-py apiserver` refuses bad settings with one line, exit 1, no traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.apiserver import CLI


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), "apiserver", *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("args,message", [
    (["--port", "70000"], "--port must be between 1 and 65535"),
    (["--service-cluster-ip-range", "10.0.0.0/30"], "at least 8 addresses"),
    (["--service-cluster-ip-range", "nonsense"], "--service-cluster-ip-range"),
    (["--service-node-port-range", "32000"], "--service-node-port-range"),
    (["--bind-address", "not-an-ip"], "not an IP address"),
    (["--etcd-compaction-interval", "0"], "must be positive"),
    pytest.param(["--etcd-servers", "http://10.1.2.3:2379"],
                 "plain-HTTP etcd off loopback", id="http-etcd-off-loopback"),
    pytest.param(["--etcd-servers", "https://10.1.2.3:2379"],
                 "https etcd needs --etcd-cafile", id="https-etcd-without-certs"),
    pytest.param(["--etcd-servers", "https://10.1.2.3:2379", "--etcd-cafile", "/etc/hostname"],
                 "without --etcd-certfile, --etcd-keyfile", id="some-certs"),
    pytest.param(["--etcd-servers", "https://10.1.2.3:2379", "--etcd-cafile", "/nonexistent",
                  "--etcd-certfile", "/etc/hostname", "--etcd-keyfile", "/etc/hostname"],
                 "--etcd-cafile /nonexistent: no such file", id="missing-cert-file"),
    pytest.param(["--etcd-servers", "ftp://10.1.2.3:2379"], "http:// or https://",
                 id="bad-scheme"),
])
def test_bad_flags(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("--data-dir", str(tmp_path), *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_unusable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run("--data-dir", str(tmp_path / "file" / "d"), "--port", "1")
    assert result.returncode == 1
    assert "cannot create data dir" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_while_starting_exits_at_once(tmp_path: Path) -> None:
    """A stop during start-up (here: etcd unreachable, bootstrap retrying it for 15 s)
    cancels the start instead of waiting it out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        etcd_port = s.getsockname()[1]  # closed again: nothing answers there
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([str(CLI), "apiserver", "--data-dir", str(tmp_path / "data"),
                                 "--port", "1", "--etcd-servers", f"http://127.0.0.1:{etcd_port}"],
                                stderr=stderr, text=True)
    try:
        # Past PKI, into the bootstrap's etcd retries (its signal handlers are set by
        # then); a fixed 2 s was sometimes still Python's start-up under load, where
        # SIGTERM's default action kills the process (-15).
        deadline = time.monotonic() + 30
        while "etcd call failed, retrying" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        err = log.read_text()
        assert time.monotonic() - started < 5, err
        assert proc.returncode == 0 and "Traceback" not in err
        assert "start cancelled" in err
    finally:
        proc.kill()
        proc.wait()
