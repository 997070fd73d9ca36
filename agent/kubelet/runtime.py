"""Docker Engine API behind asyncio: every blocking SDK call runs in one thread pool.

This is the only module that imports the Docker SDK: the rest of the kubelet (and
`down`, the sample app) awaits these methods and sees only our error tree
(`agent.kubelet.errors`): a refused connection is `RuntimeUnavailable`, a 404 is
`ContainerNotFound`, a 409 `RuntimeConflict`, any other refusal `RuntimeRequestError`.
Container listings use the low-level summary API (one request) rather than
`containers.list`, which would inspect each container.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import docker
import docker.errors
import requests.exceptions

from agent.kubelet.errors import (
    ContainerNotFound,
    KubeletError,
    RuntimeConflict,
    RuntimeRequestError,
    RuntimeUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_UNAVAILABLE = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)


def _translate(fn: Callable[..., T]) -> Callable[..., T]:
    """Map Docker SDK/transport exceptions onto our error tree, chained with `from`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except docker.errors.NotFound as e:
            raise ContainerNotFound(str(e.explanation or e)) from e
        except docker.errors.APIError as e:
            cls = RuntimeConflict if e.status_code == 409 else RuntimeRequestError
            raise cls(str(e), status=e.status_code, explanation=str(e.explanation or "")) from e
        except _UNAVAILABLE as e:
            raise RuntimeUnavailable(f"dockerd unreachable: {e}") from e
        except docker.errors.DockerException as e:  # the SDK's own checks, before any request
            raise RuntimeRequestError(str(e)) from e
    return wrapper


class DockerRuntime:
    """Async facade over one `docker.APIClient` (thread-safe connection pool)."""

    def __init__(self, base_url: str | None = None, workers: int = 16, timeout: int = 120) -> None:
        kwargs: dict[str, Any] = {"timeout": timeout, "max_pool_size": workers}
        try:  # the client asks dockerd for its API version right away
            if base_url:
                self.api = docker.APIClient(base_url=base_url, **kwargs)
            else:
                self.api = docker.from_env(**kwargs).api
        except docker.errors.DockerException as e:
            raise RuntimeUnavailable(f"dockerd unreachable: {e}") from e
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking SDK call in the pool with our error mapping."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(_translate(fn), *args, **kwargs))

    async def ping(self) -> bool:
        try:
            return bool(await self.call(self.api.ping))
        except (RuntimeUnavailable, RuntimeRequestError):
            return False

    async def version(self) -> dict[str, Any]:
        return await self.call(self.api.version)

    async def list_containers(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        """Summaries (Id, Names, Labels, State, Created) of all containers matching `labels`."""
        flt = [f"{k}={v}" for k, v in labels.items()]
        return await self.call(self.api.containers, all=True, filters={"label": flt})

    async def inspect(self, container_id: str) -> dict[str, Any]:
        return await self.call(self.api.inspect_container, container_id)

    async def create(self, *, image: str, name: str, labels: dict[str, str],
                     host_config: dict[str, Any], stdin_once: bool = False,
                     **config: Any) -> str:
        """Create (not start) a container; `host_config` is `APIClient.create_host_config`
        kwargs. `stdin_once` is Kubernetes' stdinOnce: the SDK would tie it to stdin_open,
        so it is set on the finished configuration."""
        def create() -> str:
            hc = self.api.create_host_config(**host_config)
            body = self.api.create_container_config(image=image, labels=labels,
                                                    host_config=hc, **config)
            body["StdinOnce"] = stdin_once
            created = self.api.create_container_from_config(  # type: ignore[no-untyped-call]
                body, name=name)
            return str(created["Id"])
        return await self.call(create)

    async def start(self, container_id: str) -> None:
        await self.call(self.api.start, container_id)

    async def stop(self, container_id: str, timeout: int) -> None:
        """SIGTERM (or the image's StopSignal), then SIGKILL after `timeout` seconds."""
        try:
            await self.call(self.api.stop, container_id, timeout=timeout)
        except ContainerNotFound:
            pass

    async def kill(self, container_id: str, signal: str = "KILL") -> None:
        try:
            await self.call(self.api.kill, container_id, signal=signal)
        except (ContainerNotFound, RuntimeConflict):  # 409: not running, as we wanted
            pass

    async def remove(self, container_id: str) -> bool:
        """Remove a container (force: it may still run); True if this call removed it,
        False if it was gone already or being removed by someone else."""
        try:
            await self.call(self.api.remove_container, container_id, force=True, v=True)
        except ContainerNotFound:
            return False
        except RuntimeConflict as e:
            if "already in progress" not in str(e):
                raise
            return False
        return True

    async def image_inspect(self, ref: str) -> dict[str, Any] | None:
        try:
            return await self.call(self.api.inspect_image, ref)
        except ContainerNotFound:  # the SDK raises NotFound for images too
            return None

    async def import_image(self, data: bytes, *, repository: str, tag: str,
                           changes: list[str]) -> None:
        """`docker import` of a rootfs tar as repository:tag, with Dockerfile `changes`."""
        await self.call(self.api.import_image_from_data, data, repository=repository, tag=tag,
                        changes=changes)

    async def pull(self, ref: str) -> None:
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        try:
            await self.call(self.api.pull, repo, tag=tag)
        except ContainerNotFound as e:
            raise KubeletError(str(e)) from e

    async def exec_run(self, container_id: str, cmd: list[str], timeout: float | None = None
                       ) -> tuple[int, bytes]:
        """Run a command to completion inside a container: (exit code, combined output)."""
        def run() -> tuple[int, bytes]:
            ex = self.api.exec_create(container_id, cmd, stdout=True, stderr=True)
            out = self.api.exec_start(ex["Id"])
            return int(self.api.exec_inspect(ex["Id"])["ExitCode"] or 0), out
        coro = self.call(run)
        return await (asyncio.wait_for(coro, timeout) if timeout else coro)

    async def attach(self, container_id: str) -> tuple[Any, bool]:
        """The container's hijacked attach socket (stdin, stdout, stderr; no past logs)
        and whether the container has a TTY (then the stream is raw, not multiplexed)."""
        def attach() -> tuple[Any, bool]:
            tty = bool(self.api.inspect_container(container_id)["Config"].get("Tty"))
            sock = self.api.attach_socket(container_id, params={
                "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
            return sock, tty
        return await self.call(attach)

    async def resize(self, container_id: str, width: int, height: int) -> None:
        """Resize the container's TTY (a client's terminal changed size)."""
        await self.call(self.api.resize, container_id, height=height, width=width)

    def events(self, labels: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Blocking generator of container events (run it in a thread)."""
        flt = {"type": "container", "label": [f"{k}={v}" for k, v in labels.items()]}
        # decode=True yields dicts; types-docker declares str items whatever `decode` is
        return cast(Iterator[dict[str, Any]], _translate(self.api.events)(decode=True, filters=flt))

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.api.close()
