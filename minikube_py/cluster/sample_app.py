"""The README's sample app: three busybox httpd pods behind one ClusterIP Service.

Each pod answers with its own name (downward API), so requests to the Service address
show the load spread over all three; then a client pod fetches http://hello/ by the
Service's name (cluster DNS) and leaves the reply as its termination message. The image is the node-local `minikube-py/busybox:1`
the agent builds from the host's busybox-static: no registry needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from agent.kubelet.images import BUSYBOX_IMAGE, ensure_busybox_image
from minikube_py.api.resources import DEPLOYMENTS, ENDPOINTS, PODS, SERVICES
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, ClientError, NotFound
from minikube_py.cluster import dockerd

NAME = "hello"
NAMESPACE = "default"
IMAGE = BUSYBOX_IMAGE
SERVE = 'mkdir -p /www && echo "hello from $POD_NAME" > /www/index.html && exec httpd -f -p 8080 -h /www'


def deployment(replicas: int = 3) -> dict[str, Any]:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                "name": "httpd", "image": IMAGE, "imagePullPolicy": "Never",
                "command": ["sh", "-c", SERVE],
                "env": [{"name": "POD_NAME",
                         "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 2},
            }]}},
        },
    }


def service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": {"selector": {"app": NAME},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


async def apply(client: ApiClient) -> str:
    """Create (or keep) the Deployment and Service; returns the Service's ClusterIP."""
    for resource, obj in ((DEPLOYMENTS, deployment()), (SERVICES, service())):
        try:
            await client.create(resource, obj)
        except AlreadyExists:
            pass
    svc = await client.get(SERVICES, NAME, namespace=NAMESPACE)
    return str(svc["spec"]["clusterIP"])


async def wait_endpoints(client: ApiClient, count: int, timeout: float) -> list[str]:
    """Pod IPs once `count` ready addresses back the Service."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ep = await client.get(ENDPOINTS, NAME, namespace=NAMESPACE)
            ips = [a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
        except ClientError:
            ips = []
        if len(ips) >= count:
            return ips
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ips)}/{count} ready endpoints after {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def replies(url: str, want: int, budget: float = 30.0) -> list[str]:
    """GET `url`, each on a new connection (the Service balances connections), until `want`
    different bodies came back or `budget` seconds passed (every node's proxy may take a
    moment to program endpoints that just became ready)."""
    seen: list[str] = []
    timeout = aiohttp.ClientTimeout(total=3)
    deadline = time.monotonic() + budget
    while len(set(seen)) < want and time.monotonic() < deadline:
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
                seen.append((await resp.text()).strip())
        except (TimeoutError, aiohttp.ClientError):
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.05)
    return seen


# The client's reply goes to its termination message, which the API then carries.
FETCH = ("for i in $(seq 30); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 hello 80 "
         "| tail -n 1 > /dev/termination-log; [ -s /dev/termination-log ] && exit 0; sleep 1; "
         "done; exit 1")
CLIENT = f"{NAME}-by-name"


def client_pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": CLIENT, "namespace": NAMESPACE},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "fetch", "image": IMAGE,
                                     "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", FETCH]}]}}


async def fetch_by_name(client: ApiClient, timeout: float) -> str:
    """Run the client pod to its end; the reply it got from http://hello/ (by name)."""
    with contextlib.suppress(NotFound):
        await client.delete(PODS, CLIENT, namespace=NAMESPACE, grace_period_seconds=0)
        await _gone(client, timeout)
    await client.create(PODS, client_pod())
    try:
        deadline = time.monotonic() + timeout
        while True:
            pod = await client.get(PODS, CLIENT, namespace=NAMESPACE)
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                statuses = pod["status"].get("containerStatuses") or [{}]
                message = ((statuses[0].get("state") or {}).get("terminated") or {}).get(
                    "message", "")
                if phase == "Failed" or not message:
                    raise RuntimeError(f"the client pod got no reply from http://{NAME}/")
                return str(message).strip()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the client pod did not finish within {timeout:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        with contextlib.suppress(ClientError):
            await client.delete(PODS, CLIENT, namespace=NAMESPACE, grace_period_seconds=0)


async def _gone(client: ApiClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await client.get(PODS, CLIENT, namespace=NAMESPACE)
        except NotFound:
            return
        await asyncio.sleep(0.5)


def ensure_image() -> None:
    """The node-local image (imagePullPolicy Never: no registry is needed, or reachable)."""
    ensure_busybox_image(dockerd.SOCKET)


def run(kubeconfig: Path, progress: Callable[[str], None], timeout: float = 120.0) -> set[str]:
    """Deploy, wait for three ready pods, query the ClusterIP; returns the pod names heard."""
    async def go() -> set[str]:
        await asyncio.to_thread(ensure_image)
        async with ApiClient.from_kubeconfig(kubeconfig) as client:
            ip = await apply(client)
            progress(f"sample app: Deployment {NAME} (3 x busybox httpd), Service {NAME} {ip}:80")
            await wait_endpoints(client, 3, timeout)
        answers = await replies(f"http://{ip}/", 3)
        for line in dict.fromkeys(answers):  # each pod's first answer, in order heard
            progress(f"curl http://{ip}/ -> {line}")
        heard = set(answers)
        progress(f"{len(answers)} requests answered by {len(heard)} pods")
        if len(heard) < 3:
            raise RuntimeError(f"only {len(heard)} of 3 pods answered through {ip}")
        async with ApiClient.from_kubeconfig(kubeconfig) as client:
            reply = await fetch_by_name(client, timeout)
        progress(f"pod {CLIENT}: nc {NAME} 80 (by Service name, cluster DNS) -> {reply}")
        return heard
    return asyncio.run(go())
