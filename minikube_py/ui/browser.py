"""Drive the web view from a real browser: Debian's headless Chromium through selenium and
chromium-driver, and `minikube-py ui` as a process. For the tests and bench/ui.py (as
agent/hollow.py serves both), not for running the ui: selenium is imported only here,
when called.

Chromium runs with a fresh profile and no background networking (a closed network makes
it retry for nothing) and accepts the ui's certificate; callers that care check that
certificate against the cluster CA with Python's ssl.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from minikube_py.lifetime import stop_process

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def missing() -> str:
    """Why no browser can be driven here ("" when one can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        return "chromium and chromium-driver are not installed (bin/bootstrap installs them)"
    return ""


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium WebDriver, quit and its profile removed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mkp-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--ignore-certificate-errors", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def ui_process(*args: str, log: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`minikube-py ui ARGS --open` until the block ends, and the URL (token included) it
    printed once listening."""
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "minikube_py.cli.main", "ui", *args,
                                 "--open"], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("minikube-py ui on "):
            raise RuntimeError(f"ui did not start: {line!r}; see {log}")
        yield proc, line.split(" on ", 1)[1].strip()
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()
