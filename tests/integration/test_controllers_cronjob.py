"""CronJob controller with real pods: a real api-server, the scheduler, a
`minikube-py controller-manager` process (cronjob, job, garbage collector) and
a real agent on dockerd. An every-minute CronJob starts its Jobs within 2 s of
the scheduled second and keeps its history limit; `kubectl get cj` and
`kubectl create job --from=cronjob/x` work."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.images import BUSYBOX_IMAGE
from minikube_py.api.meta import parse_time
from minikube_py.api.resources import CRONJOBS, JOBS
from minikube_py.client import ApiClient
from minikube_py.controllers.cronjob import SCHEDULED_TIMESTAMP
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import components, scheduled_namespace
from tests.fixtures.node_agent import Agent
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.usefixtures("agent")]


@pytest.fixture
async def env(apiserver: ApiServer, tmp_path: Path) -> AsyncIterator[tuple[ApiClient, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scheduled_namespace(client, "cron") as namespace:
        with components(apiserver.kubeconfig, tmp_path, cm=[
                "controller-manager", "--controllers", "cronjob,job,garbagecollector"]):
            yield client, namespace


def cronjob(name: str, schedule: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": schedule, **spec, "jobTemplate": {"spec": {"template": {
                "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": BUSYBOX_IMAGE,
                                         "command": ["true"]}]}}}}}}


def kubectl(kubeconfig: Path, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "-n", ns, *args], capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": str(kubeconfig)}, timeout=60,
                          check=False)


async def test_every_minute_on_time_with_history_limit(env: tuple[ApiClient, str], agent: Agent,
                                                       tmp_path: Path) -> None:
    """One scheduled Job is enough to see both: it starts within 2 s of its minute, and
    once it completed the older Job of the CronJob (made by hand first, as `kubectl create
    job --from` does) is deleted by the limit of 1. Waits for one minute, not two."""
    client, ns = env
    made = await client.create(
        CRONJOBS, cronjob("tick", "* * * * *", successfulJobsHistoryLimit=1), ns)
    by_hand = await client.create(JOBS, {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "tick-by-hand", "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
            "uid": made["metadata"]["uid"], "controller": True}]},
        "spec": made["spec"]["jobTemplate"]["spec"]}, ns)

    async def scheduled() -> tuple[str, float] | None:
        for job in (await client.list(JOBS, ns))["items"]:
            when = job["metadata"].get("annotations", {}).get(SCHEDULED_TIMESTAMP)
            if when is not None:
                created = parse_time(job["metadata"]["creationTimestamp"])
                return job["metadata"]["name"], (created - parse_time(when)).total_seconds()
        return None

    name, lag = await eventually(scheduled, timeout=80, interval=0.5, what="a scheduled Job")
    assert 0 <= lag <= 2, lag

    async def trimmed() -> list[str] | None:
        """Once the scheduled Job completed, the older one is deleted (limit 1)."""
        jobs = {j["metadata"]["name"]: j for j in (await client.list(JOBS, ns))["items"]}
        complete = [n for n, j in jobs.items()
                    if any(c["type"] == "Complete" and c["status"] == "True"
                           for c in (j.get("status") or {}).get("conditions") or [])]
        return complete if name in complete and by_hand["metadata"]["name"] not in jobs \
            else None

    try:
        kept = await eventually(trimmed, timeout=60, interval=0.5,
                                what="history trimmed to one successful Job")
    except AssertionError as timed_out:  # what each part did (CI once timed out here)
        jobs = {j["metadata"]["name"]: (j.get("status") or {})
                for j in (await client.list(JOBS, ns))["items"]}
        cm = (tmp_path / "cm.log").read_text()[-3000:]
        raise AssertionError(f"{timed_out}\njobs: {jobs}\ncontroller-manager:\n{cm}\n"
                             f"agent:\n{agent.tail()}") from None
    assert kept == [name]
    cj = await client.get(CRONJOBS, "tick", ns)
    last = parse_time(cj["status"]["lastScheduleTime"])
    assert last.second == 0 and last <= datetime.now(UTC)


async def test_kubectl_get_and_create_job_from_cronjob(
        env: tuple[ApiClient, str], apiserver: ApiServer) -> None:
    client, ns = env
    await client.create(CRONJOBS, cronjob("nightly", "0 3 * * *", timeZone="Europe/Paris"), ns)
    got = kubectl(apiserver.kubeconfig, ns, "get", "cj")
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE",
                              "LAST", "SCHEDULE", "AGE"]
    assert row.split()[:6] == ["nightly", "0", "3", "*", "*", "*"]
    made = kubectl(apiserver.kubeconfig, ns, "create", "job", "by-hand",
                   "--from=cronjob/nightly")
    assert made.returncode == 0, made.stderr
    job = await client.get(JOBS, "by-hand", ns)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "nightly"

    async def complete() -> bool:
        j = await client.get(JOBS, "by-hand", ns)
        return (j.get("status") or {}).get("succeeded") == 1

    await eventually(complete, timeout=90, what="the manual Job to succeed")
    listed = kubectl(apiserver.kubeconfig, ns, "get", "jobs")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAME", "STATUS", "COMPLETIONS",
                                                     "DURATION", "AGE"]
    assert listed.stdout.splitlines()[1].split()[:3] == ["by-hand", "Complete", "1/1"]
