"""The kubelet's /stats/summary and /metrics/resource, added to its API server.

Both are computed on request from the containers Docker lists for this node and their
cgroup files (stats_summary.py); authorization is the server's (nodes/stats and
nodes/metrics, as the kubelet maps these paths). A failed collection answers the
metrics with resource_scrape_error 1, as the kubelet does, and the summary with 500.
"""

from __future__ import annotations

import logging

from aiohttp import web

from agent.kubelet.errors import KubeletError
from agent.kubelet.resource_metrics import render
from agent.kubelet.stats_summary import SummaryProvider

log = logging.getLogger(__name__)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def add_routes(app: web.Application, provider: SummaryProvider) -> None:
    async def summary(_: web.Request) -> web.Response:
        try:
            return web.json_response(await provider.summary())
        except (KubeletError, OSError) as e:
            log.warning("stats summary failed error=%s", e)
            raise web.HTTPInternalServerError(text=f"failed to get summary: {e}") from None

    async def resource_metrics(_: web.Request) -> web.Response:
        try:
            text = render(await provider.summary(precise=True))
        except (KubeletError, OSError) as e:
            log.warning("resource metrics failed error=%s", e)
            text = render(None)
        return web.Response(body=text.encode(), headers={"Content-Type": PROMETHEUS_TEXT})

    app.router.add_get("/stats/summary", summary)
    app.router.add_get("/metrics/resource", resource_metrics)
