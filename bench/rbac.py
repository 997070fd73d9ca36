"""Benchmark: what RBAC costs, beside the same work with authorization off.

1. The authorizer's decision, in this process: `authz.permits` (the whole Node,RBAC chain
   a request meets) over an index holding the bootstrap policy plus 1,000 Roles, 1,000
   RoleBindings and 100 ClusterRoleBindings; p50/p99/max per decision, for an allowed
   namespaced request, a denied one, a cluster-wide one and a group-bound one.
2. Creates/s and GETs/s of ConfigMaps by a service account (allowed through one of those
   RoleBindings, so every request is decided by the RBAC index) against two api-servers
   on the same etcd and data dir: one `--authorization-mode Node,RBAC`, one `AlwaysAllow`,
   in alternated rounds (this VM's speed drifts within minutes); the figure is the median
   of the per-round ratios.

Usage: .venv/bin/python bench/rbac.py [--n 2000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import ssl
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp
import psutil
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.etcd_tls import etcd_flags
from bench.support import (
    CONCURRENCY,
    alternated_rounds,
    bounded,
    free_port,
    start_apiserver,
    stop,
)
from minikube_py.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    CONFIGMAPS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    Resource,
)
from minikube_py.apiserver import authz
from minikube_py.apiserver.authn import User
from minikube_py.apiserver.bootstrap_controllers import (
    CONTROLLER_BINDINGS,
    CONTROLLER_ROLES,
)
from minikube_py.apiserver.bootstrap_policy import (
    BINDINGS,
    COMPONENT_ROLES,
    USER_ROLES,
)
from minikube_py.apiserver.rbac_index import RbacIndex
from minikube_py.apiserver.settings import ApiServerSettings
from minikube_py.apiserver.state import RBAC, SETTINGS
from minikube_py.apiserver.target import Target

GROUP = "rbac.authorization.k8s.io"
NAMESPACES = 100
PER_NAMESPACE = 10  # Roles and RoleBindings: 1,000 of each
CLUSTER_BINDINGS = 100
USER = "system:serviceaccount:bench-0:worker"


def policy() -> list[tuple[Resource, dict[str, Any]]]:
    """The objects both measurements hold: 1,000 Roles, 1,000 RoleBindings, 100
    ClusterRoleBindings; the measured account is bound in bench-0 like everyone else."""
    objs: list[tuple[Resource, dict[str, Any]]] = []
    for n in range(NAMESPACES):
        ns = f"bench-{n}"
        for i in range(PER_NAMESPACE):
            objs.append((ROLES, {"metadata": {"name": f"role-{i}", "namespace": ns}, "rules": [
                {"apiGroups": [""], "resources": ["configmaps"],
                 "verbs": ["create", "get", "list"]},
                {"apiGroups": ["apps"], "resources": ["deployments", f"thing-{i}"],
                 "verbs": ["get"], "resourceNames": [f"d-{i}"]}]}))
            account = "worker" if i == 0 else f"robot-{i}"
            objs.append((ROLEBINDINGS, {
                "metadata": {"name": f"binding-{i}", "namespace": ns},
                "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": f"role-{i}"},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns},
                             {"kind": "Group", "name": f"system:serviceaccounts:{ns}",
                              "apiGroup": GROUP}]}))
    for i in range(CLUSTER_BINDINGS):
        objs.append((CLUSTERROLEBINDINGS, {
            "metadata": {"name": f"bench-view-{i}"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole",
                        "name": "system:aggregate-to-view"},
            "subjects": [{"kind": "User", "name": f"user-{i}", "apiGroup": GROUP},
                         {"kind": "Group", "name": f"team-{i}", "apiGroup": GROUP}]}))
    return objs


def decision_latency(samples: int) -> None:
    index = RbacIndex(None, None)  # type: ignore[arg-type]  # fed directly, never run
    for role in USER_ROLES + COMPONENT_ROLES + CONTROLLER_ROLES:
        index._apply(CLUSTERROLES, role)
    for binding in BINDINGS + CONTROLLER_BINDINGS:
        index._apply(CLUSTERROLEBINDINGS, binding)
    for resource, obj in policy():
        index._apply(resource, obj)
    app = web.Application()
    app[SETTINGS] = ApiServerSettings(data_dir=Path("/nonexistent"))
    app[RBAC] = index
    request = make_mocked_request("GET", "/", app=app)
    worker = User(USER, ("system:serviceaccounts", "system:serviceaccounts:bench-0",
                         "system:authenticated"))
    cases = {
        "allowed: create configmaps in its namespace": (
            worker, "create", Target(CONFIGMAPS, "bench-0", None, None), True),
        "denied: get secrets in its namespace": (
            worker, "get", Target(SECRETS, "bench-0", "s", None), False),
        "denied: list configmaps cluster-wide": (
            worker, "list", Target(CONFIGMAPS, None, None, None), False),
        "allowed by a group's ClusterRoleBinding": (
            User("someone", ("team-57", "system:authenticated")), "list",
            Target(CONFIGMAPS, "bench-9", None, None), True),
    }

    async def measure() -> None:
        for label, (user, verb, target, expected) in cases.items():
            assert await authz.permits(request, user, verb, target) is expected, label
            times = []
            for _ in range(samples):
                start = time.perf_counter_ns()
                await authz.permits(request, user, verb, target)
                times.append(time.perf_counter_ns() - start)
            times.sort()
            print(f"decision {label:45s} p50 {times[len(times) // 2] / 1000:5.1f} us   "
                  f"p99 {times[int(len(times) * 0.99)] / 1000:5.1f} us   "
                  f"max {times[-1] / 1000:7.1f} us (goal p99 < 50 us)", flush=True)
    asyncio.run(measure())


async def seed(session: aiohttp.ClientSession) -> str:
    """The policy, the namespaces, the account, and that account's token."""
    for n in range(NAMESPACES):
        async with session.post("/api/v1/namespaces",
                                json={"metadata": {"name": f"bench-{n}"}}) as r:
            assert r.status == 201, await r.text()
    objs = policy()

    async def create(i: int) -> None:
        resource, obj = objs[i]
        async with session.post(resource.path(obj["metadata"].get("namespace")), json=obj) as r:
            assert r.status == 201, await r.text()
    await bounded(len(objs), create)
    async with session.post("/api/v1/namespaces/bench-0/serviceaccounts",
                            json={"metadata": {"name": "worker"}}) as r:
        assert r.status == 201, await r.text()
    async with session.post("/api/v1/namespaces/bench-0/serviceaccounts/worker/token",
                            json={"apiVersion": "authentication.k8s.io/v1",
                                  "kind": "TokenRequest", "spec": {}}) as r:
        return str((await r.json())["status"]["token"])


def cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def rates(url: str, ctx: ssl.SSLContext, token: str, tag: str, n: int,
                server: psutil.Process) -> tuple[float, float, float, float]:
    """(creates/s, GETs/s, server CPU ms per create, per GET) of `n` ConfigMaps in bench-0,
    as the service account. CPU per request is what the load of other processes on this
    shared machine distorts least."""
    path = CONFIGMAPS.path("bench-0")
    async with aiohttp.ClientSession(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                     connector=aiohttp.TCPConnector(ssl=ctx, limit=CONCURRENCY)
                                     ) as s:
        async def create(i: int) -> None:
            async with s.post(path, json={"metadata": {"name": f"{tag}-{i}"},
                                          "data": {"k": "v"}}) as r:
                assert r.status == 201, await r.text()

        async def get(i: int) -> None:
            async with s.get(f"{path}/{tag}-{i}") as r:
                assert r.status == 200, await r.text()
                await r.read()
        before = cpu(server)
        creates = await bounded(n, create)
        middle = cpu(server)
        gets = await bounded(n, get)
        return creates, gets, (middle - before) * 1000 / n, (cpu(server) - middle) * 1000 / n


async def end_to_end(n: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-rbac-"))
    data, rbac_port, open_port = tmp / "data", free_port(), free_port()
    rbac = start_apiserver(data, rbac_port)
    servers = [rbac]
    try:
        import yaml
        conf = yaml.safe_load((data / "etcd" / "etcd.conf.yaml").read_text())
        servers.append(start_apiserver(data, open_port, "--authorization-mode", "AlwaysAllow",
                                       "--etcd-servers", conf["listen-client-urls"],
                                       *etcd_flags(data)))
        ctx = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
        admin = (data / "pki" / "admin.token").read_text().strip()
        async with aiohttp.ClientSession(
                base_url=f"https://127.0.0.1:{rbac_port}",
                headers={"Authorization": f"Bearer {admin}"},
                connector=aiohttp.TCPConnector(ssl=ctx, limit=CONCURRENCY)) as session:
            token = await seed(session)
        await asyncio.sleep(1)  # both servers' indexes have the policy
        urls = {"rbac": f"https://127.0.0.1:{rbac_port}",
                "allow-all": f"https://127.0.0.1:{open_port}"}
        procs = {"rbac": psutil.Process(servers[0].pid),
                 "allow-all": psutil.Process(servers[1].pid)}
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for mode, url in urls.items():
            await rates(url, ctx, token, f"warm-{mode}", n // 4, procs[mode])
        ratios: list[list[float]] = [[], [], [], []]  # creates/s, GETs/s, CPU/create, CPU/GET
        for r, order in alternated_rounds(rounds, ("rbac", "allow-all")):
            got = {mode: await rates(urls[mode], ctx, token, f"{mode}-{r}", n, procs[mode])
                   for mode in order}
            for i, values in enumerate(ratios):
                values.append(got["rbac"][i] / got["allow-all"][i])
            print(f"round {r}: creates/s rbac {got['rbac'][0]:.0f} allow-all "
                  f"{got['allow-all'][0]:.0f} (CPU {got['rbac'][2]:.2f} / "
                  f"{got['allow-all'][2]:.2f} ms); GETs/s rbac {got['rbac'][1]:.0f} allow-all "
                  f"{got['allow-all'][1]:.0f} (CPU {got['rbac'][3]:.2f} / "
                  f"{got['allow-all'][3]:.2f} ms)", flush=True)
        for label, values in zip(("creates/s", "GETs/s", "server CPU per create",
                                  "server CPU per GET"), ratios, strict=True):
            values.sort()
            print(f"{label} with RBAC: {median(values):.0%} of allow-all "
                  f"({values[0]:.0%}-{values[-1]:.0%} over {rounds} rounds)")
    finally:
        stop(*servers)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="ConfigMaps per round and server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=100_000, help="decisions per case")
    args = parser.parse_args()
    decision_latency(args.samples)
    asyncio.run(end_to_end(args.n, args.rounds))
