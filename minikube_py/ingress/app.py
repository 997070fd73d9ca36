"""`minikube-py ingress`: informers, then the sync loop; HAProxy is started by the first
sync (once the caches are whole, so it never serves a partial route table) and stopped
when the component stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from minikube_py.client import ApiClient, run_tasks
from minikube_py.ingress.controller import CONFIG, IngressController
from minikube_py.ingress.settings import IngressSettings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running(settings: IngressSettings, client: ApiClient
                  ) -> AsyncIterator[IngressController]:
    """The controller with its informers and workers running; HAProxy stopped on exit."""
    controller = IngressController(client, settings)

    async def workers() -> None:
        await asyncio.gather(*(i.wait_synced() for i in controller.informers))
        controller.queue.add(CONFIG)
        await controller.run_workers()

    tasks = {f"informer-{i.resource.plural}": i.run() for i in controller.informers}
    task = asyncio.create_task(run_tasks({**tasks, "ingress-workers": workers()}),
                               name="ingress-controller")
    try:
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await controller.close()


async def run(settings: IngressSettings) -> None:
    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client, \
            running(settings, client):
        log.info("ingress controller running controller=%s http=%s:%d https=%s:%d",
                 settings.controller, settings.bind_address, settings.http_port,
                 settings.bind_address, settings.https_port)
        await asyncio.Event().wait()
