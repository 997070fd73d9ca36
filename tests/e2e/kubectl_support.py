"""Shared by the kubectl compatibility tests: find kubectl binaries, run them, parse tables.

The newest kubectl is the machine's /usr/bin/kubectl; the oldest is Debian bookworm's
kubernetes-client (1.20), which conflicts with the installed package, so its binary is
extracted from the downloaded .deb into a temporary directory. Either one missing
skips its half of the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CURRENT = "/usr/bin/kubectl"


@dataclass
class Kubectl:
    """One kubectl binary bound to a kubeconfig, with its own discovery cache."""

    binary: str
    version: str
    kubeconfig: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                    "KUBECONFIG": str(self.kubeconfig), "LANG": "C.UTF-8"}

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], input=stdin, capture_output=True, text=True,
                              timeout=timeout, env={**self.env, **(env or {})}, check=False)

    def ok(self, *args: str, stdin: str | None = None, timeout: float = 120,
           env: dict[str, str] | None = None) -> str:
        """stdout of a command that must succeed (its stderr in the failure message)."""
        done = self.run(*args, stdin=stdin, timeout=timeout, env=env)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}{done.stdout}"
        return done.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([self.binary, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)


def client_version(binary: str) -> str:
    out = subprocess.run([binary, "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=30, check=False).stdout
    match = re.search(r'"gitVersion":\s*"v(\d+\.\d+)', out)
    return match.group(1) if match else "unknown"


@pytest.fixture(scope="session")
def kubectl_binaries() -> Iterator[dict[str, str | None]]:
    """{"newest": path or None, "oldest": path or None}; the .deb is removed afterwards."""
    found: dict[str, str | None] = {"newest": CURRENT if Path(CURRENT).exists() else None,
                                    "oldest": None}
    work = Path(tempfile.mkdtemp(prefix="kubectl-old-"))
    try:
        if shutil.which("apt-get") and shutil.which("dpkg-deb"):
            download = subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=work,
                                      capture_output=True, text=True, timeout=180, check=False)
            debs = list(work.glob("kubernetes-client_*.deb"))
            if download.returncode == 0 and debs:
                subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")],
                               check=True, timeout=60)
                binary = work / "root" / "usr" / "bin" / "kubectl"
                if binary.exists():
                    found["oldest"] = str(binary)
        yield found
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """kubectl's column output as (header, rows), split on runs of 2+ spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no output"
    split = [re.split(r"\s{2,}", line.strip()) for line in lines]
    return split[0], split[1:]


def header(text: str) -> list[str]:
    return table(text)[0]
