"""Job and TTL-after-finished controllers with real pods: a real api-server, the
scheduler, a `minikube-py controller-manager` process and a real agent running
busybox containers on dockerd.

Covers completions with parallelism, a failing container against backoffLimit,
Indexed Jobs' JOB_COMPLETION_INDEX, TTL deletion, and the controller-manager
killed (SIGKILL) mid-Job without a completion lost or double-counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.images import BUSYBOX_IMAGE
from minikube_py.api.job import TRACKING_FINALIZER
from minikube_py.api.resources import JOBS, PODS
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import components, scheduled_namespace
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.usefixtures("agent")]
CONTROLLERS = "job,ttl-after-finished,garbagecollector"


@contextlib.contextmanager
def controller_manager(apiserver: ApiServer, log_dir: Path
                       ) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    with components(apiserver.kubeconfig, log_dir,
                    cm=["controller-manager", "--controllers", CONTROLLERS]) as procs:
        yield procs


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[tuple[ApiClient, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scheduled_namespace(client, "job") as namespace:
        yield client, namespace


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": BUSYBOX_IMAGE,
                                "command": ["sh", "-c", script]}]}}}}


async def finished(client: ApiClient, ns: str, name: str, kind: str) -> dict[str, Any] | None:
    j = await client.get(JOBS, name, ns)
    for c in (j.get("status") or {}).get("conditions") or []:
        if c["type"] == kind and c["status"] == "True":
            return j
    return None


async def pods_of(client: ApiClient, ns: str, name: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = (await client.list(
        PODS, ns, label_selector=f"batch.kubernetes.io/job-name={name}"))["items"]
    return pods


async def test_completions_with_parallelism_and_a_ttl(
        env: tuple[ApiClient, str], apiserver: ApiServer, tmp_path: Path) -> None:
    client, ns = env
    with controller_manager(apiserver, tmp_path):
        await client.create(JOBS, job("five", "sleep 1", completions=5, parallelism=2,
                                      ttlSecondsAfterFinished=3), ns)
        done = await eventually(lambda: finished(client, ns, "five", "Complete"), timeout=120,
                                what="Job five Complete")
        status = done["status"]
        assert status["succeeded"] == 5 and not status.get("failed")
        assert status["completionTime"] and status["uncountedTerminatedPods"] == {}
        pods = await pods_of(client, ns, "five")
        assert len([p for p in pods if p["status"]["phase"] == "Succeeded"]) == 5
        assert not any(TRACKING_FINALIZER in (p["metadata"].get("finalizers") or [])
                       for p in pods)

        async def deleted() -> bool:
            return not [j for j in (await client.list(JOBS, ns))["items"]
                        if j["metadata"]["name"] == "five"]

        await eventually(deleted, timeout=60, what="TTL deletion of Job five")


async def test_failing_container_respects_backoff_limit(
        env: tuple[ApiClient, str], apiserver: ApiServer, tmp_path: Path) -> None:
    client, ns = env
    with controller_manager(apiserver, tmp_path):
        await client.create(JOBS, job("bad", "exit 3", completions=5, parallelism=1,
                                      backoffLimit=1), ns)
        failed = await eventually(lambda: finished(client, ns, "bad", "Failed"), timeout=120,
                                  what="Job bad Failed")
    status = failed["status"]
    assert status["failed"] == 2 and not status.get("succeeded")
    reason = next(c for c in status["conditions"] if c["type"] == "Failed")["reason"]
    assert reason == "BackoffLimitExceeded"
    # The second pod only started after the backoff (10 s base) since the first failure.
    pods = sorted(await pods_of(client, ns, "bad"), key=lambda p: p["metadata"]["name"])
    assert len(pods) == 2


async def test_indexed_job_pods_see_their_index(env: tuple[ApiClient, str], apiserver: ApiServer,
        tmp_path: Path) -> None:
    client, ns = env
    script = 'test "$JOB_COMPLETION_INDEX" = "$(hostname | sed s/^idx-//)"'
    with controller_manager(apiserver, tmp_path):
        await client.create(JOBS, job("idx", script, completions=3, parallelism=3,
                                      completionMode="Indexed"), ns)
        done = await eventually(lambda: finished(client, ns, "idx", "Complete"), timeout=120,
                                what="Job idx Complete")
    assert done["status"]["completedIndexes"] == "0-2" and done["status"]["succeeded"] == 3


async def test_controller_manager_killed_mid_job(env: tuple[ApiClient, str], apiserver: ApiServer,
        tmp_path: Path) -> None:
    client, ns = env
    name = f"kill-{uuid.uuid4().hex[:4]}"
    for sub in ("first", "second"):
        (tmp_path / sub).mkdir()
    with controller_manager(apiserver, tmp_path / "first") as procs:
        await client.create(JOBS, job(name, "sleep 2", completions=6, parallelism=2), ns)

        async def some_done() -> bool:
            return any(p["status"].get("phase") == "Succeeded"
                       for p in await pods_of(client, ns, name))

        await eventually(some_done, timeout=90, what="a first pod to succeed")
        procs["cm"].kill()  # SIGKILL: no cleanup, wherever it was
        procs["cm"].wait()
    await asyncio.sleep(3)  # pods finish while nobody counts them
    with controller_manager(apiserver, tmp_path / "second"):
        done = await eventually(lambda: finished(client, ns, name, "Complete"), timeout=120,
                                what=f"Job {name} Complete after the restart")
    status = done["status"]
    pods = await pods_of(client, ns, name)
    succeeded = [p for p in pods if p["status"].get("phase") == "Succeeded"]
    assert status["succeeded"] == 6 == len(succeeded)
    assert not status.get("failed")
