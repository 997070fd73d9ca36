"""The workload controllers as a real cluster runs them: a `minikube-py
controller-manager` with controller-manager.conf and --use-service-account-credentials,
so each acts as kube-system/<its account> with only the bootstrap role Kubernetes gives
it, still makes DaemonSet, StatefulSet, ReplicationController and Job pods (with their
ControllerRevisions, finalizers and status) on a hollow node, and a budget's status."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from agent.hollow import HollowNodes
from minikube_py.api.resources import (
    CONTROLLERREVISIONS,
    DAEMONSETS,
    JOBS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICATIONCONTROLLERS,
    SERVICEACCOUNTS,
    STATEFULSETS,
)
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import components
from tests.helpers import eventually, scratch_namespace

CONTROLLERS = "daemonset,statefulset,replicationcontroller,job,disruption"
ACCOUNTS = ("daemon-set-controller", "statefulset-controller", "replication-controller",
            "job-controller", "disruption-controller")


def template(app: str, restart: str = "Always") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {
        "restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}}


async def test_workload_controllers_work_with_their_own_roles(apiserver: ApiServer,
                                                              tmp_path: Path) -> None:
    manager_conf = apiserver.data_dir / "controller-manager.conf"
    scheduler_conf = apiserver.data_dir / "scheduler.conf"
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as admin, \
            scratch_namespace(admin, "wl-ids") as ns:
        nodes = HollowNodes(admin, lease_interval=1.0)
        runner = asyncio.create_task(nodes.run())
        try:
            await nodes.add(f"a-{uuid.uuid4().hex[:4]}")
            with components(scheduler_conf, tmp_path, scheduler=["scheduler"]), \
                    components(manager_conf, tmp_path, cm=[
                        "controller-manager", "--controllers", CONTROLLERS,
                        "--use-service-account-credentials"]):
                selector = {"matchLabels": {"app": "ds"}}
                await admin.create(DAEMONSETS, {
                    "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"},
                    "spec": {"selector": selector, "template": template("ds")}}, ns)
                await admin.create(STATEFULSETS, {
                    "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                    "spec": {"replicas": 2, "serviceName": "db",
                             "selector": {"matchLabels": {"app": "db"}},
                             "template": template("db")}}, ns)
                await admin.create(REPLICATIONCONTROLLERS, {
                    "apiVersion": "v1", "kind": "ReplicationController",
                    "metadata": {"name": "rc"},
                    "spec": {"replicas": 2, "template": template("rc")}}, ns)
                await admin.create(JOBS, {
                    "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
                    "spec": {"parallelism": 2, "completions": 4,
                             "template": template("job", "Never")}}, ns)
                await admin.create(PODDISRUPTIONBUDGETS, {
                    "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                    "metadata": {"name": "rc"},
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "rc"}}}},
                    ns)

                async def all_running() -> dict[str, int] | None:
                    pods = (await admin.list(PODS, ns))["items"]
                    running: dict[str, int] = {}
                    for p in pods:
                        if p["status"].get("phase") == "Running":
                            app = p["metadata"]["labels"].get("app", "")
                            running[app] = running.get(app, 0) + 1
                    wanted = {"ds": 1, "db": 2, "rc": 2, "job": 2}
                    return running if running == wanted else None

                await eventually(all_running, 90, 0.2, "every workload's pods running")

                async def statuses() -> bool:
                    db = await admin.get(STATEFULSETS, "db", ns)
                    job = await admin.get(JOBS, "job", ns)
                    pdb = await admin.get(PODDISRUPTIONBUDGETS, "rc", ns)
                    return ((db.get("status") or {}).get("readyReplicas") == 2
                            and (job.get("status") or {}).get("active") == 2
                            and (pdb.get("status") or {}).get("disruptionsAllowed") == 1)

                await eventually(statuses, 60, 0.2, "statuses written")
                revisions = (await admin.list(CONTROLLERREVISIONS, ns))["items"]
                assert {r["metadata"]["ownerReferences"][0]["kind"] for r in revisions} == {
                    "DaemonSet", "StatefulSet"}
            for account in ACCOUNTS:
                await admin.get(SERVICEACCOUNTS, account, "kube-system")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await nodes.cleanup()
            for pod in (await admin.list(PODS, ns))["items"]:
                if pod["metadata"].get("finalizers"):
                    await admin.patch(PODS, pod["metadata"]["name"],
                                      {"metadata": {"finalizers": None}}, ns)
