"""The embedded etcd supervisor: private config, loopback only, restarted when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import psutil
import yaml

from minikube_py.store import Storage
from minikube_py.store.embedded import EmbeddedEtcd, EtcdConfig


async def test_start_restart_stop(tmp_path: Path) -> None:
    etcd = EmbeddedEtcd(EtcdConfig(tmp_path / "etcd"))
    await etcd.start()
    try:
        conf_path = tmp_path / "etcd" / "etcd.conf.yaml"
        assert stat.S_IMODE(conf_path.stat().st_mode) == 0o600
        conf = yaml.safe_load(conf_path.read_text())
        for url in (conf["listen-client-urls"], conf["listen-peer-urls"]):
            assert url.startswith("http://127.0.0.1:")
        assert etcd.proc is not None
        first_pid = etcd.proc.pid
        listening = {c.laddr.ip for c in psutil.Process(first_pid).net_connections()
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}
        async with Storage([etcd.client_url]) as s:
            await s.create("/registry/k/one", b"1")
            os.kill(first_pid, signal.SIGKILL)
            # Requests are retried across the outage; the supervisor brings etcd back.
            assert (await s.get("/registry/k/one")).value == b"1"
        for _ in range(50):
            if etcd.restarts:
                break
            await asyncio.sleep(0.1)
        assert etcd.restarts == 1 and etcd.proc.pid != first_pid
    finally:
        await etcd.stop()
    assert etcd.proc.returncode is not None
    assert not psutil.pid_exists(etcd.proc.pid) or \
        psutil.Process(etcd.proc.pid).status() == psutil.STATUS_ZOMBIE


async def test_ports_are_kept_across_restarts_of_the_owner(tmp_path: Path) -> None:
    first = EmbeddedEtcd(EtcdConfig(tmp_path / "etcd"))
    await first.start()
    url = first.client_url
    await first.stop()
    second = EmbeddedEtcd(EtcdConfig(tmp_path / "etcd"))
    await second.start()
    try:
        assert second.client_url == url
    finally:
        await second.stop()
