"""Scraping kubelets: every node's /metrics/resource, parsed into points.

As metrics-server's scraper: one concurrent GET per node each resolution, with the
server's own credential (its service account token; the kubelet asks the api-server
whether it may `get nodes/metrics`), a timeout under the resolution, and a node that
fails simply missing from that round. Only the cumulative CPU seconds and the working
set are kept, with the kubelet's sample timestamps (rates are storage.py's).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from minikube_py.api.shape import as_dict, dicts

log = logging.getLogger(__name__)

DEFAULT_KUBELET_PORT = 10250
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Point:
    """Cumulative CPU core-seconds and working-set bytes at one moment (seconds); a
    container's start time when the kubelet gave it."""

    cpu_seconds: float
    memory_bytes: float
    timestamp: float
    started: float | None = None


@dataclass
class NodeScrape:
    """One node's answer: the node's point and each container's, by (ns, pod, container)."""

    node: Point | None = None
    containers: dict[tuple[str, str, str], Point] = field(default_factory=dict)


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse(text: str, now: float) -> NodeScrape:
    """The node and container points of a /metrics/resource text (a series missing a
    CPU or memory sample, or any value that does not parse, is left out)."""
    cpu: dict[tuple[str, str, str] | None, tuple[float, float]] = {}
    memory: dict[tuple[str, str, str] | None, tuple[float, float]] = {}
    started: dict[tuple[str, str, str] | None, tuple[float, float]] = {}
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found is None or line.startswith("#"):
            continue
        name, raw_labels, raw_value, raw_stamp = found.groups()
        target = {"node_cpu_usage_seconds_total": cpu,
                  "container_cpu_usage_seconds_total": cpu,
                  "node_memory_working_set_bytes": memory,
                  "container_memory_working_set_bytes": memory,
                  "container_start_time_seconds": started}.get(name)
        if target is None:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(raw_labels or "")}
        key = ((labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
               if name.startswith("container_") else None)
        try:
            value = float(raw_value)
        except ValueError:
            continue
        target[key] = (value, int(raw_stamp) / 1000 if raw_stamp else now)
    scrape = NodeScrape()
    for key, (cpu_value, stamp) in cpu.items():
        if key not in memory:
            continue
        point = Point(cpu_value, memory[key][0], stamp,
                      started[key][0] if key in started else None)
        if key is None:
            scrape.node = point
        else:
            scrape.containers[key] = point
    return scrape


def kubelet_url(node: dict[str, Any]) -> str | None:
    """https://<InternalIP>:<kubelet port>/metrics/resource, or None without an address."""
    status = as_dict(node.get("status"))
    address = next((a.get("address") for a in dicts(status.get("addresses"))
                    if a.get("type") == "InternalIP"), None)
    if not address:
        return None
    port = as_dict(as_dict(status.get("daemonEndpoints")).get("kubeletEndpoint")).get(
        "Port") or DEFAULT_KUBELET_PORT
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}/metrics/resource"


class Scraper:
    """One HTTP session to every kubelet; `scrape(nodes)` returns what answered."""

    def __init__(self, token: str, tls: ssl.SSLContext, timeout: float) -> None:
        self.token, self.tls, self.timeout = token, tls, timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def scrape(self, nodes: list[dict[str, Any]]) -> dict[str, NodeScrape]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=self.timeout))
        names = [str(as_dict(n.get("metadata")).get("name")) for n in nodes]
        results = await asyncio.gather(*(self._one(n) for n in nodes))
        return {name: got for name, got in zip(names, results, strict=True) if got is not None}

    async def _one(self, node: dict[str, Any]) -> NodeScrape | None:
        name = as_dict(node.get("metadata")).get("name")
        url = kubelet_url(node)
        if url is None or self._session is None:
            return None
        try:
            async with self._session.get(url, ssl=self.tls, headers={
                    "Authorization": f"Bearer {self.token}"}) as response:
                text = await response.text()
                if response.status != 200:
                    log.warning("scrape refused node=%s status=%d body=%s", name,
                                response.status, text[:200])
                    return None
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            log.warning("scrape failed node=%s error=%s", name, e)
            return None
        return parse(text, time.time())
