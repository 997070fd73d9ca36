"""mypy --strict over the three packages, as a test: the typed wire (api/types.py) and
every annotation stay true as the code changes, instead of rotting between manual runs."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("minikube_py", "agent", "cni_plugins")


def test_mypy_strict_is_clean() -> None:
    # pyproject's [tool.mypy] says strict too; the flag keeps this test strict on its own.
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", *PACKAGES], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
