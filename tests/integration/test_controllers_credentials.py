"""Components with their own identities, as a real cluster runs them: the scheduler with
scheduler.conf (system:kube-scheduler), the controller-manager with controller-manager.conf
and --use-service-account-credentials (each controller as kube-system/<its account>),
both real processes against a real api-server, take a Deployment to running pods on a
hollow node; none of them may do what is not its business."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from agent.hollow import HollowNodes
from minikube_py.api.resources import DEPLOYMENTS, PODS, SECRETS, SERVICEACCOUNTS
from minikube_py.client import ApiClient
from minikube_py.client.errors import Forbidden
from minikube_py.controllers.credentials import ServiceAccountClients
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import components
from tests.helpers import eventually, scratch_namespace


async def _whoami(client: ApiClient) -> str:
    got = await client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                               json={"apiVersion": "authentication.k8s.io/v1",
                                     "kind": "SelfSubjectReview"})
    return str(got["status"]["userInfo"]["username"])


async def test_scheduler_and_controllers_work_with_least_privilege(apiserver: ApiServer,
                                                                   tmp_path: Path) -> None:
    scheduler_conf = apiserver.data_dir / "scheduler.conf"
    manager_conf = apiserver.data_dir / "controller-manager.conf"
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as admin, \
            ApiClient.from_kubeconfig(scheduler_conf) as scheduler, \
            ApiClient.from_kubeconfig(manager_conf) as manager, \
            scratch_namespace(admin, "ids") as ns:
        assert await _whoami(scheduler) == "system:kube-scheduler"
        assert await _whoami(manager) == "system:kube-controller-manager"
        try:
            await scheduler.list(SECRETS, "kube-system")
            raise AssertionError("the scheduler listed Secrets")
        except Forbidden:
            pass
        try:  # it reads everything (its informers); its controllers do the writing
            await manager.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                        "metadata": {"name": "x"}}, ns)
            raise AssertionError("the controller-manager itself created a pod")
        except Forbidden:
            pass
        nodes = HollowNodes(admin, lease_interval=1.0)
        runner = asyncio.create_task(nodes.run())
        name = f"web-{uuid.uuid4().hex[:5]}"
        try:
            await nodes.add("a")
            with components(scheduler_conf, tmp_path, scheduler=["scheduler"]), \
                    components(manager_conf, tmp_path, cm=[
                        "controller-manager", "--controllers", "replicaset,deployment",
                        "--use-service-account-credentials"]):
                labels = {"app": name}
                await admin.create(DEPLOYMENTS, {
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels}, "spec": {
                                 "containers": [{"name": "c", "image": "busybox"}]}}}}, ns)

                async def running() -> bool:
                    pods = (await admin.list(PODS, ns))["items"]
                    return len(pods) == 2 and all(
                        p["status"].get("phase") == "Running" for p in pods)
                await eventually(running, 60, 0.2, "two pods running")
            for account in ("deployment-controller", "replicaset-controller"):
                await admin.get(SERVICEACCOUNTS, account, "kube-system")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await nodes.cleanup()
            await admin.delete(DEPLOYMENTS, name, ns)


async def test_each_controller_client_is_its_service_account(apiserver: ApiServer) -> None:
    async with ApiClient.from_kubeconfig(apiserver.data_dir / "controller-manager.conf"
                                         ) as manager:
        accounts = ServiceAccountClients(manager, token_seconds=600)
        try:
            client = await accounts.client_for("endpoint-controller")
            assert await _whoami(client) == \
                "system:serviceaccount:kube-system:endpoint-controller"
            try:
                await client.list(PODS, "kube-system", label_selector="x=y")
            except Forbidden:
                raise AssertionError("the endpoint controller may list pods") from None
            try:
                await client.create(DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment",
                                                  "metadata": {"name": "x"}}, "default")
                raise AssertionError("the endpoint controller created a Deployment")
            except Forbidden:
                pass
            accounts._renew_at["endpoint-controller"] = 0  # due now
            renewal = asyncio.create_task(accounts.run())
            await eventually(lambda: accounts._renew_at["endpoint-controller"] > 0, 10, 0.1,
                             "a renewed token")
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            assert await _whoami(client) == \
                "system:serviceaccount:kube-system:endpoint-controller"
        finally:
            await accounts.close()
