"""The web view at 1,000 pods (issue #21: first render < 1 s; an event on the page < 1 s
after the watch delivers it).

    .venv/bin/python bench/ui.py [--pods 1000] [--rounds 5] [--events 10]

A private api-server (embedded etcd) with 10 hollow nodes and --pods pods bound to them,
`minikube-py ui` as a process, headless Chromium (selenium). Alternated per round:
  kubectl     `kubectl get pods -A` of the same pods from a fresh process (baseline);
  first view  a fresh tab: from navigation to every pod's chip on the page.
Then --events times: a pod created while a watch of this process and the page both
watch; the gap between the watch delivering it here and the page showing it (both
clocks are this machine's).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from support import bounded, free_port, scratch_apiserver

from agent.hollow import node_object, register_node
from minikube_py.api.resources import PODS
from minikube_py.client import ApiClient
from minikube_py.ui.browser import chromium, ui_process

COUNT = "return document.querySelectorAll('[data-pod]').length"
WAIT_FOR = """
const [key, done] = [arguments[0], arguments[arguments.length - 1]];
const seen = () => document.querySelector(`[data-pod="${key}"]`);
if (seen()) { done(Date.now()); return; }
new MutationObserver((_, obs) => { if (seen()) { obs.disconnect(); done(Date.now()); } })
  .observe(document.body, {childList: true, subtree: true});
"""


def pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"b": "1"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


def first_view(driver: Any, url: str, pods: int) -> float:
    driver.switch_to.new_window("tab")
    t0 = time.perf_counter()
    driver.get(url)
    while driver.execute_script(COUNT) < pods:
        if time.perf_counter() - t0 > 60:
            raise TimeoutError("the page did not show every pod")
        time.sleep(0.01)
    took = time.perf_counter() - t0
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    return took


async def event_gaps(admin: Path, driver: Any, count: int) -> list[float]:
    gaps = []
    async with ApiClient.from_kubeconfig(admin) as client:
        rv = (await client.list(PODS, "default", limit=1))["metadata"]["resourceVersion"]
        for i in range(count):
            name = f"event-{i}"
            delivered: asyncio.Future[float] = asyncio.get_running_loop().create_future()

            async def watch(name: str = name, fut: asyncio.Future[float] = delivered) -> None:
                async for kind, obj in client.watch(PODS, "default", resource_version=rv):
                    if kind == "ADDED" and obj["metadata"]["name"] == name:
                        fut.set_result(time.time() * 1000)
                        return

            task = asyncio.create_task(watch())
            page = asyncio.create_task(asyncio.to_thread(
                driver.execute_async_script, WAIT_FOR, f"default/{name}"))
            await asyncio.sleep(0.2)
            await client.create(PODS, pod(name, "hollow-0"), "default")
            shown = await page
            gaps.append((shown - await delivered) / 1000)
            await task
    return gaps


async def fill(admin: Path, count: int) -> None:
    async with ApiClient.from_kubeconfig(admin, pool_size=64) as client:
        nodes = [f"hollow-{i}" for i in range(10)]
        for n in nodes:
            await register_node(client, node_object(n))
        await bounded(count, lambda i: client.create(PODS, pod(f"p-{i}", nodes[i % 10]),
                                                     "default"))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--events", type=int, default=10)
    args = ap.parse_args()
    with scratch_apiserver("bench-ui-") as api:
        data = api.data
        asyncio.run(fill(data / "admin.conf", args.pods))
        port = free_port()
        with ui_process("--kubeconfig", str(data / "admin.conf"), "--pki-dir",
                        str(data / "pki"), "--root", str(data / "root"), "--port",
                        str(port), log=data / "ui.log") as (_, url), chromium() as driver:
            driver.get(url)  # the token goes into this tab's session; later tabs open
            driver.set_script_timeout(30)  # with the same URL, token and all
            kubectl = ["kubectl", "--kubeconfig", str(data / "admin.conf"), "get", "pods",
                       "-A"]
            base, view = [], []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                subprocess.run(kubectl, check=True, capture_output=True, timeout=60)
                base.append(time.perf_counter() - t0)
                view.append(first_view(driver, url, args.pods))
            print(f"kubectl get pods -A ({args.pods} pods): median "
                  f"{statistics.median(base):.2f}s max {max(base):.2f}s")
            print(f"first view with every pod:  median {statistics.median(view):.2f}s "
                  f"max {max(view):.2f}s (goal < 1 s); ratio to kubectl "
                  f"{statistics.median(view) / statistics.median(base):.2f}x")
            gaps = asyncio.run(event_gaps(data / "admin.conf", driver, args.events))
            print(f"watch -> page: median {statistics.median(gaps) * 1000:.0f} ms "
                  f"max {max(gaps) * 1000:.0f} ms over {len(gaps)} pods (goal < 1 s)")


if __name__ == "__main__":
    main()
