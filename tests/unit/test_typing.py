"""mypy --strict over the three packages and the tests, as a test: the typed wire
(api/types.py) and every annotation stay true as the code changes, instead of rotting
between manual runs; the tests' own annotations (fixtures' types, fakes at the ApiClient
seam) are checked against the code they exercise."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("minikube_py", "agent", "cni_plugins")


def test_mypy_strict_is_clean() -> None:
    # pyproject's [tool.mypy] says strict too; the flag keeps this test strict on its own.
    # One run for the packages and tests/: the tests import the packages, so a second run
    # would analyse them again (tests/ adds ~5 s to a cold run, ~0.1 s with mypy's cache).
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", *PACKAGES, "tests"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# Aliases of the raw dict that name something else than a Kubernetes object.
OTHER_DICT_ALIASES = {"cni_plugins/result.py": "Result"}  # a CNI Result (the CNI spec's JSON)


def test_one_alias_for_raw_objects() -> None:
    """api.types.Object is the raw object's one name: no module grows its own
    `Obj`/`JSON`/`JsonDict = dict[str, Any]` again."""
    pattern = re.compile(r"^(\w+) = dict\[str, Any\]$", re.MULTILINE)
    found = [f"{path.relative_to(ROOT)}: {m.group(1)}"
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for m in pattern.finditer(path.read_text())
             if path != ROOT / "minikube_py/api/types.py"
             and OTHER_DICT_ALIASES.get(str(path.relative_to(ROOT))) != m.group(1)]
    assert not found, "use minikube_py.api.types.Object instead of: " + ", ".join(found)
