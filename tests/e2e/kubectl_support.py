"""Shared by the kubectl compatibility tests: a private cluster and the kubectl binaries.

The newest kubectl is the machine's /usr/bin/kubectl; the oldest is Debian bookworm's
kubernetes-client (1.20), which conflicts with the installed package, so its binary is
extracted from the downloaded .deb into a temporary directory (removed at exit).
Either one missing skips its half of the suite.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.cluster_support import free_port, mkp, skip_if_other_cluster

KUBECTL_NEW = "/usr/bin/kubectl"


def kubectl_version(binary: str) -> tuple[int, int]:
    """(major, minor) of a kubectl client, e.g. (1, 32)."""
    out = subprocess.run([binary, "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=30, check=False).stdout
    match = re.search(r'"major":\s*"(\d+)".*?"minor":\s*"(\d+)', out, re.DOTALL)
    assert match, f"cannot read the version of {binary}: {out!r}"
    return int(match.group(1)), int(match.group(2))


@functools.cache
def old_kubectl() -> tuple[str | None, str]:
    """(path, "") of kubectl 1.20 from Debian's kubernetes-client, or (None, why not)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        return None, "apt-get/dpkg-deb not available"
    work = Path(tempfile.mkdtemp(prefix="kubectl-old-"))
    atexit.register(shutil.rmtree, work, True)
    download = subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=work,
                              capture_output=True, text=True, timeout=300, check=False)
    debs = sorted(work.glob("kubernetes-client_*.deb"))
    if download.returncode != 0 or not debs:
        return None, f"apt-get download kubernetes-client failed: {download.stderr.strip()}"
    extract = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")],
                             capture_output=True, text=True, timeout=120, check=False)
    binary = work / "root" / "usr" / "bin" / "kubectl"
    if extract.returncode != 0 or not binary.exists():
        return None, f"dpkg-deb -x failed: {extract.stderr.strip()}"
    return str(binary), ""


class KubeCluster:
    """A running single-node cluster and how to drive kubectl against it."""

    def __init__(self, root: Path, port: int, node: str) -> None:
        self.root, self.port, self.node = root, port, node
        self.kubeconfig = root / "etc" / "admin.conf"
        self.home = root / "kubectl-home"  # kubectl's discovery/http caches live here
        self.home.mkdir(parents=True, exist_ok=True)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "KUBECONFIG": str(self.kubeconfig), "LANG": "C.UTF-8", **(extra or {})}

    def kubectl(self, *args: str, binary: str = KUBECTL_NEW, stdin: str | None = None,
                timeout: float = 60, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        """Run kubectl to completion (never raises on a non-zero exit)."""
        return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=self.env(env), check=False)

    def popen(self, *args: str, binary: str = KUBECTL_NEW) -> subprocess.Popen[str]:
        """A long-running kubectl (`-w`, `logs -f`); the caller terminates it."""
        return subprocess.Popen([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env())


@contextmanager
def private_cluster(root: Path) -> Iterator[KubeCluster]:
    """`minikube-py up` under its own --root, taken down (with --purge) afterwards."""
    port = free_port()
    up = mkp("up", "--root", str(root), "--api-port", str(port), "--no-install",
             "--timeout", "150")
    try:
        skip_if_other_cluster(up)
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((root / "state" / "cluster.json").read_text())
        yield KubeCluster(root, port, state["nodes"][0]["name"])
    finally:
        mkp("down", "--root", str(root), "--purge")
