"""The CLI turns user errors into one line, whichever way it is started."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("entry", [
    pytest.param([sys.executable, "-m", "minikube_py.cli.main"], id="python-m"),
    pytest.param([sys.executable, "-c",
                  "import sys; from minikube_py.cli.main import main; sys.exit(main())"],
                 id="console-script-entry"),
])
def test_user_error_is_one_line_without_traceback(entry: list[str]) -> None:
    result = subprocess.run([*entry, "token", "create", "--kubeconfig", "/nonexistent/admin.conf"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "minikube_py.cli.main", "no-such-thing"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "invalid choice" in result.stderr
