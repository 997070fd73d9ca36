"""The api-server's background loops over a real etcd: one that crashes is logged and
restarted, never silently lost (the app is built in-process so a loop can be broken)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.apiserver import app as app_module
from minikube_py.apiserver import pki
from minikube_py.apiserver.app import build_app
from minikube_py.apiserver.endpoint_leases import EndpointLeases
from minikube_py.apiserver.nslifecycle import NamespaceLifecycle
from minikube_py.apiserver.settings import ApiServerSettings
from tests.fixtures.etcd import EtcdCluster
from tests.helpers import eventually


def breaks_once(runs: list[str], name: str) -> Callable[..., Any]:
    """A loop that crashes on its first run and idles on the next."""
    async def loop(*_: Any) -> None:
        runs.append(name)
        if len(runs) == 1:
            raise RuntimeError(f"{name} broke")
        await asyncio.Event().wait()
    return loop


@pytest.mark.parametrize(("task", "target", "attribute"), [
    pytest.param("namespace-lifecycle", NamespaceLifecycle, "run", id="namespace-lifecycle"),
    pytest.param("kubernetes-endpoints", EndpointLeases, "run", id="endpoint-leases"),
    pytest.param("etcd-compactor", app_module, "compact_forever", id="compactor"),
])
async def test_a_crashed_background_loop_is_logged_and_restarted(
        task: str, target: object, attribute: str, tmp_path: Path,
        etcd_factory: Callable[..., EtcdCluster], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    runs: list[str] = []
    monkeypatch.setattr(target, attribute, breaks_once(runs, task))
    caplog.set_level(logging.ERROR, "minikube_py.client.tasks")
    etcd = etcd_factory(1)
    pki.ensure(tmp_path / "pki", service_ip="10.96.0.1")  # the CA bootstrap publishes
    app = build_app(ApiServerSettings(data_dir=tmp_path), etcd.urls, None, [],
                    ssl.create_default_context(),
                    rsa.generate_private_key(public_exponent=65537, key_size=2048))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await eventually(lambda: len(runs) == 2, timeout=10, what=f"{task} restarted")
        assert f"task crashed, restarting task={task}" in caplog.text
        assert f"RuntimeError('{task} broke')" in caplog.text
    finally:
        await runner.cleanup()
