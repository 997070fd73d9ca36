"""The web view in a real browser (headless Chromium via selenium) against a real
api-server, scheduler, Deployment and ReplicaSet controllers and hollow nodes: the page
goes live, a Deployment's pods appear without a reload, a deleted pod is replaced on the
page, a token without rights is refused, and the certificate chains to the cluster CA."""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.resources import DEPLOYMENTS, PODS
from minikube_py.ui.browser import chromium, ui_process
from tests.fixtures.browser import needs_browser
from tests.fixtures.controlplane import ClusterEnv
from tests.helpers import eventually

pytestmark = [needs_browser, pytest.mark.timeout(300)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def env(apiserver: Any) -> AsyncIterator[ClusterEnv]:
    async with ClusterEnv.running(apiserver.kubeconfig, "ui", ("deployment", "replicaset"),
                                  nodes=2) as env:
        yield env


def fetch(url: str, context: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, context=context, timeout=10) as page:
        return bytes(page.read())


def chips(driver: Any, prefix: str) -> dict[str, str]:
    """Pod chips on the page whose key starts with `prefix`: key -> phase."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('[data-pod]')].map(e => "
        "[e.dataset.pod, e.dataset.phase, e.parentNode.parentNode.dataset.node])")
    return {k: f"{phase}@{node}" for k, phase, node in found if k.startswith(prefix)}


async def test_pods_appear_and_are_replaced_live(env: ClusterEnv, apiserver: Any,
                                                 tmp_path: Path) -> None:
    port = free_port()
    with ui_process("--kubeconfig", str(apiserver.kubeconfig), "--pki-dir",
                    str(apiserver.data_dir / "pki"), "--root", str(tmp_path / "root"),
                    "--port", str(port), log=tmp_path / "ui.log") as (_, url):
        ca = ssl.create_default_context(cafile=str(apiserver.ca_file))
        # The cluster CA vouches for the page; the stream wants a token.
        assert b"/static/app.js" in await asyncio.to_thread(fetch, f"https://127.0.0.1:{port}/", ca)
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(fetch, f"https://127.0.0.1:{port}/api/stream", ca)
        assert refused.value.code == 401
        with chromium() as driver:
            driver.get(url)
            await eventually(lambda: driver.find_element("id", "status").text == "live",
                             timeout=30, what="the page's stream live")
            assert "#token" not in driver.current_url  # taken out of the address bar
            driver.execute_script("window.loadedOnce = 1")
            prefix = f"{env.ns}/web-"
            await env.client.create(DEPLOYMENTS, {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "c",
                                                               "image": "busybox"}]}}}},
                env.ns)
            shown = await eventually(
                lambda: (c := chips(driver, prefix)) and len(c) == 3
                and all(v.startswith("Running@hollow") for v in c.values()) and c,
                timeout=60, what="three Running pods on hollow nodes' cards")
            victim = min(shown)
            await env.client.delete(PODS, victim.split("/", 1)[1], env.ns)
            after = await eventually(
                lambda: (c := chips(driver, prefix)) and victim not in c and len(c) == 3
                and all(v.startswith("Running") for v in c.values()) and c,
                timeout=60, what="the deleted pod replaced on the page")
            assert len(set(after) - set(shown)) == 1
            assert driver.execute_script("return window.loadedOnce") == 1  # no reload
            shot = tmp_path / "ui.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000


async def test_a_token_without_rights_is_refused_on_the_page(env: ClusterEnv, apiserver: Any,
                                                             tmp_path: Path) -> None:
    port = free_port()
    with ui_process("--kubeconfig", str(apiserver.kubeconfig), "--pki-dir",
                    str(apiserver.data_dir / "pki"), "--root", str(tmp_path / "root"),
                    "--port", str(port), log=tmp_path / "ui.log") as (_, url), \
            chromium() as driver:
        base = url.split("#", 1)[0]
        driver.get(base + "#token=not-a-real-token")
        await eventually(lambda: "token refused" in driver.find_element("id", "status").text,
                         timeout=30, what="the refusal shown")
        assert driver.find_element("id", "login").is_displayed()
