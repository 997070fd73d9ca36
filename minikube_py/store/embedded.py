"""An etcd the api-server starts and supervises itself, the way k3s does.

The config file (0600) lives in D/etcd beside the data; client and peer ports
listen on `host` (loopback by default), with client and peer TLS from the etcd CA when
`tls` is given (certificates required both ways, as kubeadm's etcd). `start()` returns once etcd answers /health. If etcd
dies, the supervisor restarts it with backoff; if the api-server dies (even
kill -9), the kernel sends etcd SIGTERM (PR_SET_PDEATHSIG), so no etcd outlives
the process that owns it and a restarted api-server can take the data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from minikube_py.api.backoff import Backoff
from minikube_py.durable import write_file
from minikube_py.lifetime import die_with_parent
from minikube_py.store.etcdtls import EtcdTLS, MemberTLS

log = logging.getLogger(__name__)

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class EtcdConfig:
    """Where and how the embedded member runs; ports 0 mean "pick free ones"."""

    data_dir: Path
    client_port: int = 0
    peer_port: int = 0
    binary: str = "etcd"
    name: str = "default"
    host: str = "127.0.0.1"
    # Server and peer certificates (https on both ports) and what /health polls present.
    tls: MemberTLS | None = None
    client_tls: EtcdTLS | None = None
    # Other members as etcd's initial-cluster ("a=https://10.0.0.1:2380,..."; empty: alone)
    # and whether the cluster is "new" or this member joins an "existing" one.
    initial_cluster: str = ""
    cluster_state: str = "new"


class EmbeddedEtcd:
    """Start, health-poll, restart-on-death and stop one local etcd member."""

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self.dir = config.data_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False
        self._monitor: asyncio.Task[None] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.config.tls is not None else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{self.config.host}:{self.config.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{self.config.host}:{self.config.peer_port}"

    def _choose_ports(self) -> None:
        """Reuse the ports of an earlier run when free, so the member keeps its address."""
        conf = self.dir / "etcd.conf.yaml"
        if conf.exists() and not (self.config.client_port and self.config.peer_port):
            old = yaml.safe_load(conf.read_text()) or {}
            client = int(str(old.get("listen-client-urls", ":0")).rsplit(":", 1)[1])
            peer = int(str(old.get("listen-peer-urls", ":0")).rsplit(":", 1)[1])
            host = self.config.host
            if not self.config.client_port and client and _port_free(host, client):
                self.config.client_port = client
            if not self.config.peer_port and peer and _port_free(host, peer):
                self.config.peer_port = peer
        self.config.client_port = self.config.client_port or free_port(self.config.host)
        self.config.peer_port = self.config.peer_port or free_port(self.config.host)

    def write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._choose_ports()
        peer = self.peer_url
        conf: dict[str, object] = {
            "name": self.config.name,
            "data-dir": str(self.dir / "data"),
            "listen-client-urls": self.client_url,
            "advertise-client-urls": self.client_url,
            "listen-peer-urls": peer,
            "initial-advertise-peer-urls": peer,
            "initial-cluster": self.config.initial_cluster or f"{self.config.name}={peer}",
            "initial-cluster-state": self.config.cluster_state,
            "initial-cluster-token": "minikube-py",
            "quota-backend-bytes": 2 * 1024**3,
            "logger": "zap",
            "log-level": "warn",
            "log-outputs": [str(self.dir / "etcd.log")],
        }
        if self.config.tls is not None:
            conf.update(self.config.tls.config())
        path = self.dir / "etcd.conf.yaml"
        write_file(path, yaml.safe_dump(conf))
        return path

    async def _spawn(self) -> None:
        binary = shutil.which(self.config.binary) or self.config.binary
        path = self.dir / "etcd.conf.yaml"
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--config-file", str(path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent,
        )
        log.info("etcd started pid=%d url=%s", self.proc.pid, self.client_url)

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll /health until etcd says it serves; raise TimeoutError after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        tls = self.config.client_tls
        ssl_context: ssl.SSLContext | bool = tls.ssl_context() if tls is not None else True
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    async with http.get(f"{self.client_url}/health", ssl=ssl_context) as r:
                        if r.status == 200 and json.loads(await r.text()).get("health") == "true":
                            return
                if self.proc is not None and self.proc.returncode is not None:
                    raise RuntimeError(f"etcd exited with {self.proc.returncode}; "
                                       f"see {self.dir / 'etcd.log'}")
                if loop.time() > deadline:
                    raise TimeoutError(f"etcd not healthy after {timeout}s at {self.client_url}")
                await asyncio.sleep(0.1)

    async def start(self) -> None:
        self.write_config()
        await self._spawn()
        await self.wait_healthy()
        self._monitor = asyncio.create_task(self._supervise(), name="etcd-supervisor")

    async def _supervise(self) -> None:
        backoff = Backoff(0.5, 10.0)
        delay = backoff.next()
        while not self._stopping:
            assert self.proc is not None
            code = await self.proc.wait()
            if self._stopping:
                return
            log.error("etcd died code=%s, restarting in %.1fs", code, delay)
            await asyncio.sleep(delay)
            try:
                await self._spawn()
                await self.wait_healthy()
                self.restarts += 1
                backoff.reset()
                delay = backoff.next()
                log.info("etcd restarted restarts=%d", self.restarts)
            except (OSError, RuntimeError, TimeoutError) as e:
                log.error("etcd restart failed error=%s", e)
                delay = backoff.next()

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.info("etcd stopped")
