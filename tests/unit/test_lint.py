"""ruff, with the rules pyproject chose, over the code, the tests and the benchmarks;
and the one import rule ruff cannot state: test modules and benchmarks import only
shared code (the packages, tests/fixtures, tests/helpers.py, tests/e2e's support
modules), never a test module, and bench never imports tests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINTED = ["minikube_py", "agent", "cni_plugins", "tests", "bench"]


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *LINTED],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return found


def test_no_test_module_is_imported_and_bench_imports_no_tests() -> None:
    wrong = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py")]):
        for name in _imports(path):
            last = name.rsplit(".", 1)[-1]
            if (name.startswith("tests.") and last.startswith("test_")) or (
                    path.parts[-2] == "bench" and name.split(".")[0] == "tests"):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)
