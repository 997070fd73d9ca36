"""Extra api-server processes on the same port, for hosts with cores to spare.

One Python process tops out at one core (a create costs ~0.5 ms of it: TLS, HTTP, JSON,
gRPC), where kube-apiserver's goroutines use them all. `--workers N` runs N-1 more
processes that listen on the same address with SO_REUSEPORT, so the kernel spreads new
connections over all of them. They share everything that matters through etcd: objects,
resourceVersions, allocations, tokens. The first process alone owns what must happen
once: the PKI, the embedded etcd, bootstrap objects, compaction and the `kubernetes`
Endpoints. A worker that dies is restarted; workers die with the first process
(PR_SET_PDEATHSIG), however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
from pathlib import Path

from minikube_py.api.backoff import Backoff
from minikube_py.apiserver.settings import ApiServerSettings
from minikube_py.lifetime import die_with_parent
from minikube_py.store.etcdtls import EtcdTLS

log = logging.getLogger(__name__)


def worker_argv(settings: ApiServerSettings, etcd_endpoints: list[str],
                etcd_tls: EtcdTLS | None) -> list[str]:
    """The command line of a worker: this server's flags, its etcd, and --worker."""
    exe = shutil.which("minikube-py", path=str(Path(sys.executable).parent)) or "minikube-py"
    low, high = settings.node_port_range
    argv = [exe, "apiserver", "--worker", "--data-dir", str(settings.data_dir),
            "--port", str(settings.port), "--bind-address", settings.bind_address,
            "--etcd-servers", ",".join(etcd_endpoints),
            "--service-cluster-ip-range", settings.service_cluster_ip_range,
            "--service-node-port-range", f"{low}-{high}",
            "--event-ttl", str(settings.event_ttl),
            "--watch-progress-interval", str(settings.watch_progress_interval),
            "--authorization-mode", ",".join(settings.authorization_mode),
            "--pod-security-default", settings.pod_security_default,
            "--min-request-timeout", str(settings.min_request_timeout),
            "--max-requests-inflight", str(settings.max_requests_inflight),
            "--max-mutating-requests-inflight", str(settings.max_mutating_requests_inflight),
            "--max-watches-per-user", str(settings.max_watches_per_user),
            "--idle-connection-timeout", str(settings.idle_connection_timeout)]
    if settings.advertise_address:
        argv += ["--advertise-address", settings.advertise_address]
    if etcd_tls is not None:
        argv += ["--etcd-cafile", str(etcd_tls.ca_file), "--etcd-certfile",
                 str(etcd_tls.cert_file), "--etcd-keyfile", str(etcd_tls.key_file)]
    if settings.etcd_insecure:
        argv.append("--etcd-insecure")
    if settings.encryption_provider_config is not None:
        argv += ["--encryption-provider-config", str(settings.encryption_provider_config)]
    for san in settings.tls_sans:
        argv += ["--tls-san", san]
    return argv


class Workers:
    """`count` worker processes, each restarted with back-off whenever it exits."""

    def __init__(self, argv: list[str], count: int) -> None:
        self.argv, self.count = argv, count
        self.procs: list[asyncio.subprocess.Process] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(i), name=f"apiserver-worker-{i}")
                       for i in range(self.count)]

    async def _spawn(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.procs.append(proc)
        return proc

    async def _keep(self, index: int) -> None:
        backoff = Backoff(0.5, 10.0)
        while True:
            proc = await self._spawn()
            log.info("api-server worker started index=%d pid=%d", index, proc.pid)
            code = await proc.wait()
            self.procs.remove(proc)
            delay = backoff.next()
            log.error("api-server worker exited index=%d code=%s, restarting in %.1fs",
                      index, code, delay)
            await asyncio.sleep(delay)

    async def stop(self, timeout: float = 10.0) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
