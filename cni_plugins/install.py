"""Install the shim as a CNI executable (e.g. /opt/cni/bin/mkp-bridge).

The shim is copied with a `python3 -IS` shebang (-I -S; the kernel passes one argument) (no site, no venv: fast
start) and the interpreter that can import cni_plugins + pyroute2 written
into FALLBACK. The file is replaced atomically, so a runtime never executes
a half-written plugin.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PLUGIN_TYPE = "mkp-bridge"
SHIM_PYTHON = "/usr/bin/python3"


def render(python: str = sys.executable, shim_python: str = SHIM_PYTHON) -> str:
    source = (Path(__file__).with_name("shim.py")).read_text()
    fallback = f"FALLBACK = {[python, '-m', 'cni_plugins']!r}"
    marker = 'FALLBACK: list[str] = []  # install.py writes [python, "-m", "cni_plugins"] here'
    if marker not in source:
        raise RuntimeError("shim.py lost its FALLBACK marker")
    return f"#!{shim_python} -IS\n" + source.replace(marker, fallback)


def uninstall(bin_dir: str = "/opt/cni/bin", name: str = PLUGIN_TYPE) -> bool:
    """Remove the executable (`down`); True if it was there."""
    path = Path(bin_dir) / name
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def install(bin_dir: str, *, python: str = sys.executable, name: str = PLUGIN_TYPE) -> Path:
    """Write the executable into `bin_dir`; returns its path."""
    os.makedirs(bin_dir, exist_ok=True)
    dest = Path(bin_dir) / name
    tmp = dest.with_name(f".{name}.tmp{os.getpid()}")
    tmp.write_text(render(python))
    tmp.chmod(0o755)
    os.replace(tmp, dest)
    return dest
