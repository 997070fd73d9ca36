"""cni_plugins.forwarding on a host whose /proc/sys is read-only (a container running
systemd as its host, as the real-host tests run install.sh): forwarding already on is
enough; off, the write's error says why. A read-only bind mount in a private mount
namespace stands in for that /proc/sys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")]

CALL = "from cni_plugins.forwarding import enable_ip_forward as f; import sys; f(sys.argv[1])"


def _on_read_only(path: Path) -> subprocess.CompletedProcess[str]:
    script = (f"mount --bind {path} {path} && mount -o remount,bind,ro {path} && "
              f"exec {sys.executable} -c '{CALL}' {path}")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=30, check=False,
                          cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize(("value", "ok"), [("1\n", True), ("0\n", False)])
def test_read_only_forwarding_switch(tmp_path: Path, value: str, ok: bool) -> None:
    switch = tmp_path / "ip_forward"
    switch.write_text(value)
    done = _on_read_only(switch)
    assert (done.returncode == 0) is ok, done.stderr
    if not ok:
        assert "Read-only file system" in done.stderr
    assert switch.read_text() == value
