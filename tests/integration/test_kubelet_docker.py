"""The kubelet's Docker side against the real dockerd and reference CNI plugins.

No api-server here: a test drives `PodSyncer.sync` and feeds each status back into
the pod, as the API would. Every container carries this test's unique node label and
is removed at teardown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest

from agent.kubelet import labels as L
from agent.kubelet import subpath
from agent.kubelet.cni import CNI
from agent.kubelet.dns import PodDNS
from agent.kubelet.kernel_oom import KernelOomLog
from agent.kubelet.pod_sync import PodSyncer
from agent.kubelet.probes import Probes
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.sandbox import Sandboxes
from agent.kubelet.source import DictSource
from agent.kubelet.volumes import VolumeManager
from minikube_py.api.resources import CONFIGMAPS, SECRETS, SERVICEACCOUNTS
from minikube_py.apiserver.serviceaccount_admission import MOUNT_PATH, projected_volume
from minikube_py.client.tasks import background
from tests.fixtures.docker import CniNet, remove_containers

pytestmark = [pytest.mark.docker, pytest.mark.root]

HOST_IP = "192.0.2.10"


class Node:
    """A PodSyncer on a private node name, plus helpers to drive pods."""

    def __init__(self, syncer: PodSyncer, source: DictSource, image: str, name: str) -> None:
        self.syncer, self.source, self.image, self.name = syncer, source, image, name

    def pod(self, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        name = f"p-{uuid.uuid4().hex[:8]}"
        for c in containers + spec.get("initContainers", []):
            c.setdefault("image", self.image)
        return {"metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4()),
                             "labels": {"app": "t"}},
                "spec": {"containers": containers, "nodeName": self.name,
                         "terminationGracePeriodSeconds": 2, **spec}}

    async def until(self, pod: dict[str, Any], pred: Callable[[dict[str, Any]], bool],
                    timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            result = await self.syncer.sync(pod)
            if result.status is not None:
                pod["status"] = result.status
            status: dict[str, Any] = pod["status"]
            if pred(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; status: {json.dumps(pod['status'], indent=1)}")
            await asyncio.sleep(0.2)

    async def containers(self, pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """container name -> docker inspect of its newest instance."""
        out: dict[str, dict[str, Any]] = {}
        for o in sorted(await self.syncer.observed(pod["metadata"]["uid"]),
                        key=lambda o: o.restart_count):
            out[o.name] = await self.syncer.runtime.inspect(o.id)
        return out


@pytest.fixture
async def node(busybox_image: str, cni_net: CniNet, tmp_path: Path) -> AsyncIterator[Node]:
    name = f"test-node-{uuid.uuid4().hex[:8]}"
    runtime = DockerRuntime(workers=8)
    source = DictSource()
    cni = CNI(cni_net.conf_dir, cni_net.bin_dirs, cni_net.state_dir)
    volumes = VolumeManager(tmp_path / "kubelet", source)
    probes = Probes(runtime)
    kernel_oom = KernelOomLog()
    syncer = PodSyncer(runtime=runtime, sandboxes=Sandboxes(runtime, cni, name, HOST_IP),
                       volumes=volumes, source=source, node=name, host_ip=HOST_IP, probes=probes,
                       kernel_oom=kernel_oom)
    try:
        async with background(kernel_oom.run(), "kernel-oom-log"):
            yield Node(syncer, source, busybox_image, name)
            for uid in {o.pod_uid for o in await syncer.observed()}:
                await syncer.teardown(uid, grace=0)
    finally:
        await probes.close()
        await asyncio.to_thread(remove_containers, L.NODE, name)
        await runtime.close()
        subpath.unmount(tmp_path / "kubelet")  # binds a failed test left behind


def running(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Running" and all(
        "running" in s["state"] for s in status.get("containerStatuses", []))


async def test_pod_runs_with_env_volumes_and_limits(node: Node, cni_net: CniNet) -> None:
    node.source.put(CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": "default"},
                                 "data": {"greeting": "hello", "file.txt": "from-configmap"}})
    node.source.put(SECRETS, {"metadata": {"name": "sec", "namespace": "default"},
                              "data": {"password": base64.b64encode(b"s3cret").decode()}})
    pod = node.pod([{
        "name": "main", "command": ["sh", "-c", "sleep 3600"], "workingDir": "/tmp",
        "env": [{"name": "PLAIN", "value": "v1"},
                {"name": "REF", "value": "$(PLAIN)-x"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg",
                                                                       "key": "greeting"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec",
                                                                    "key": "password"}}}],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}],
        "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}},
        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000,
                            "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}},
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                         {"name": "mem", "mountPath": "/mem"},
                         {"name": "cm", "mountPath": "/etc/cm", "readOnly": True},
                         {"name": "sec", "mountPath": "/etc/sec"},
                         {"name": "info", "mountPath": "/etc/info"}],
    }], volumes=[{"name": "scratch", "emptyDir": {}},
                 {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
                 {"name": "cm", "configMap": {"name": "cfg"}},
                 {"name": "sec", "secret": {"secretName": "sec"}},
                 {"name": "info", "downwardAPI": {"items": [
                     {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}])
    status = await node.until(pod, running)
    assert status["podIP"].startswith(cni_net.subnet.rsplit(".", 1)[0] + ".")
    assert status["hostIP"] == HOST_IP
    ins = (await node.containers(pod))["main"]
    env = dict(e.split("=", 1) for e in ins["Config"]["Env"])
    assert env["PLAIN"] == "v1" and env["REF"] == "v1-x"
    assert env["POD_NAME"] == pod["metadata"]["name"] and env["POD_IP"] == status["podIP"]
    assert env["GREETING"] == "hello" and env["PASSWORD"] == "s3cret"
    assert env["CM_file.txt"] == "from-configmap"
    hc = ins["HostConfig"]
    assert (hc["CpuQuota"], hc["CpuPeriod"], hc["Memory"]) == (50_000, 100_000, 64 * 2**20)
    assert hc["CpuShares"] == 256
    assert ins["Config"]["User"] == "1000:1000" and ins["Config"]["WorkingDir"] == "/tmp"
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["MKNOD"]
    assert hc["NetworkMode"].startswith("container:")
    mounts = {m["Destination"]: m for m in ins["Mounts"]}
    assert set(mounts) >= {"/scratch", "/mem", "/etc/cm", "/etc/sec", "/etc/info"}
    # The kubelet's own files are read-only, whatever the mount says (no planted links).
    assert [mounts[p]["RW"] for p in ("/etc/cm", "/etc/sec", "/etc/info")] == [False] * 3
    code, out = await node.syncer.runtime.exec_run(ins["Id"], [
        "sh", "-c", "rm /etc/sec/..data && ln -s / /etc/sec/..data"])
    assert code != 0 and b"Read-only file system" in out, out
    code, out = await node.syncer.runtime.exec_run(ins["Id"], [
        "sh", "-c", ("for f in /etc/cm/file.txt /etc/sec/password /etc/info/labels; do "
                    "cat $f; echo; done; "
                    "grep ' /mem ' /proc/mounts | cut -d' ' -f3; hostname; "
                    "grep -w $(hostname) /etc/hosts | cut -f1")])
    assert code == 0, out
    assert out.decode().splitlines() == [
        "from-configmap", "s3cret", 'app="t"', "tmpfs", pod["metadata"]["name"], status["podIP"]]


async def test_two_containers_talk_over_localhost(node: Node) -> None:
    pod = node.pod([
        {"name": "server", "command": ["sh", "-c", ("echo hi-from-server > /tmp/index.html; "
                                                   "httpd -f -p 8080 -h /tmp")]},
        {"name": "client", "command": ["sh", "-c", "sleep 3600"]},
    ])
    await node.until(pod, running)
    client = (await node.containers(pod))["client"]
    for _ in range(20):
        code, out = await node.syncer.runtime.exec_run(
            client["Id"], ["wget", "-q", "-O-", "http://127.0.0.1:8080/index.html"])
        if code == 0:
            break
        await asyncio.sleep(0.2)
    assert (code, out.strip()) == (0, b"hi-from-server")


async def test_init_containers_run_in_order(node: Node) -> None:
    pod = node.pod(
        [{"name": "main", "command": ["sh", "-c", "cat /work/log; sleep 3600"],
          "volumeMounts": [{"name": "w", "mountPath": "/work"}]}],
        initContainers=[
            {"name": f"init{i}", "command": ["sh", "-c", f"sleep 0.3; echo init{i} >> /work/log"],
             "volumeMounts": [{"name": "w", "mountPath": "/work"}]} for i in (1, 2)],
        volumes=[{"name": "w", "emptyDir": {}}])
    seen_pending_init = False

    def done(status: dict[str, Any]) -> bool:
        nonlocal seen_pending_init
        if status.get("phase") == "Pending" and status.get("initContainerStatuses"):
            seen_pending_init = True
        return running(status)

    status = await node.until(pod, done)
    assert seen_pending_init
    assert [s["state"]["terminated"]["reason"] for s in status["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    cond = {c["type"]: c["status"] for c in status["conditions"]}
    assert cond["Initialized"] == "True"
    main = (await node.containers(pod))["main"]
    for _ in range(50):  # Running can be reported before `cat` ran
        # logs() without stream=True returns bytes; types-docker declares bytes | a stream
        logs = cast(bytes, await node.syncer.runtime.call(node.syncer.runtime.api.logs,
                                                          main["Id"]))
        if logs:
            break
        await asyncio.sleep(0.1)
    assert isinstance(logs, bytes) and logs.decode().split() == ["init1", "init2"]


async def test_oom_killed_under_16mi(node: Node) -> None:
    pod = node.pod([{"name": "hog", "command": ["sh", "-c", "head -c 64m /dev/zero | tail"],
                     "resources": {"limits": {"memory": "16Mi"}}}], restartPolicy="Never")
    # dockerd on cgroup v2 may set State.OOMKilled a moment after the exit (hashicorp/nomad
    # #13119): each sync re-reads it, so the reason is waited for, not read once.
    status = await node.until(pod, lambda s: s.get("phase") == "Failed" and s[
        "containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled", timeout=20)
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137


async def test_exit_137_without_an_oom_kill_is_an_error(node: Node) -> None:
    """Exit 137 alone is not OOMKilled: the kernel's OOM records must name the container."""
    pod = node.pod([{"name": "shot", "command": ["sh", "-c", "exit 137"],
                     "resources": {"limits": {"memory": "16Mi"}}}], restartPolicy="Never")
    status = await node.until(pod, lambda s: s.get("phase") == "Failed")
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Error", 137)


async def test_succeeded_pod_releases_sandbox(node: Node) -> None:
    pod = node.pod([{"name": "once", "command": ["true"]}], restartPolicy="OnFailure")
    status = await node.until(pod, lambda s: s.get("phase") == "Succeeded")
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    await node.syncer.sync(pod)
    kinds = {o.kind: o.running for o in await node.syncer.observed(pod["metadata"]["uid"])}
    assert kinds == {L.APP: False}


async def test_missing_image_and_command_are_reasons_not_crashes(node: Node) -> None:
    pod = node.pod([{"name": "noimg", "image": "nosuch.invalid/x:1", "imagePullPolicy": "Never"},
                    {"name": "nocmd", "command": ["/no/such/binary"]}], restartPolicy="Never")
    status = await node.until(pod, lambda s: any(
        "terminated" in c["state"] for c in s.get("containerStatuses", [])))
    by = {c["name"]: c for c in status["containerStatuses"]}
    assert by["noimg"]["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    term = by["nocmd"]["state"]["terminated"]
    assert term["reason"] == "ContainerCannotRun" and term["exitCode"] != 0
    assert "/no/such/binary" in term["message"]


async def test_projected_service_account_volume(node: Node, tmp_path: Path) -> None:
    """The volume the api-server's admission adds: a token asked for the pod (and asked
    again at 80% of its life), the namespace, and ca.crt from kube-root-ca.crt."""
    node.source.put(SERVICEACCOUNTS, {"metadata": {"name": "robot", "namespace": "default"}})
    node.source.put(CONFIGMAPS, {"metadata": {"name": "kube-root-ca.crt",
                                              "namespace": "default"},
                                 "data": {"ca.crt": "CA PEM"}})
    volume = projected_volume("kube-api-access-x1y2z")
    mount = {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"], "volumeMounts": [mount]}],
                   serviceAccountName="robot", volumes=[volume],
                   securityContext={"runAsUser": 1000})
    await node.until(pod, running)
    cid = (await node.containers(pod))["main"]["Id"]
    read = ["sh", "-c", f"cd {MOUNT_PATH} && cat token; echo; cat namespace; echo; cat ca.crt"]
    code, out = await node.syncer.runtime.exec_run(cid, read)
    assert (code, out.decode()) == (0, "token-default-robot-1\ndefault\nCA PEM")
    # The pod's one user owns its token, which no one else reads (kubelet's fsUser).
    code, out = await node.syncer.runtime.exec_run(cid, [
        "stat", "-L", "-c", "%n %a %u", f"{MOUNT_PATH}/token", f"{MOUNT_PATH}/namespace"])
    assert out.decode().split("\n")[:2] == [f"{MOUNT_PATH}/token 600 1000",
                                             f"{MOUNT_PATH}/namespace 644 0"], out
    volumes = node.syncer.volumes
    await volumes.prepare(pod)  # fresh: the same token
    assert node.source.tokens_issued == 1
    real_clock = volumes.tokens.clock
    volumes.tokens.clock = lambda: real_clock() + 0.81 * 3607
    await volumes.prepare(pod)
    code, out = await node.syncer.runtime.exec_run(cid, ["cat", f"{MOUNT_PATH}/token"])
    assert (code, out.decode()) == (0, "token-default-robot-2")  # the running pod sees it


async def test_without_its_account_a_pod_waits_for_its_token(node: Node) -> None:
    volume = projected_volume("kube-api-access-a1b2c")
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"], "volumeMounts": [
        {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}]}],
        serviceAccountName="ghost", volumes=[volume])
    result = await node.syncer.sync(pod)
    assert result.status is not None
    waiting = result.status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ContainerCreating" and "token" in waiting["message"]


async def test_a_symlink_planted_in_a_shared_volume_leads_nowhere(node: Node) -> None:
    """One container plants `escape -> /` in an emptyDir; a second mounting subPath
    `escape` is refused (CreateContainerConfigError), so the host's root is never mounted."""
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"], "volumeMounts": [
        {"name": "shared", "mountPath": "/host", "subPath": "escape"}]}],
        initContainers=[{"name": "plant", "command": ["ln", "-s", "/", "/shared/escape"],
                         "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}],
        volumes=[{"name": "shared", "emptyDir": {}}])
    status = await node.until(pod, lambda s: any(
        (c["state"].get("waiting") or {}).get("reason") == "CreateContainerConfigError"
        for c in s.get("containerStatuses", [])))
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert "resolves outside its volume" in waiting["message"]
    assert "main" not in await node.containers(pod)


async def test_a_subpath_is_pinned_before_docker_mounts_it(node: Node) -> None:
    """The race of CVE-2017-1002101: a sidecar swaps the checked directory for a link to
    the host's root after the kubelet's check. Docker is handed a bind of what was
    checked, so the swap changes nothing it mounts; pod teardown unbinds it all."""
    shared = [{"name": "shared", "mountPath": "/shared"}]
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"], "volumeMounts": [
        {"name": "shared", "mountPath": "/data", "subPath": "d"}]},
        {"name": "side", "command": ["sleep", "3600"], "volumeMounts": shared}],
        initContainers=[{"name": "fill", "command": [
            "sh", "-c", "mkdir /shared/d && echo checked > /shared/d/f"],
            "volumeMounts": shared}],
        volumes=[{"name": "shared", "emptyDir": {}}])
    await node.until(pod, running)
    found = await node.containers(pod)
    source = {m["Destination"]: m["Source"] for m in found["main"]["Mounts"]}["/data"]
    uid, volumes = pod["metadata"]["uid"], node.syncer.volumes
    assert source == str(volumes.pod_dir(uid) / "volume-subpaths/shared/main/0")
    # The kubelet's pace, slowed down: check and bind, the swap, then Docker's mount.
    bound = volumes.binds(pod, pod["spec"]["containers"][0],
                          {"shared": str(volumes.pod_dir(uid) / "volumes/shared")}, {})
    code, out = await node.syncer.runtime.exec_run(found["side"]["Id"], [
        "sh", "-c", "mv /shared/d /shared/old && ln -s / /shared/d && ls /shared/d/etc"])
    assert code == 0 and b"passwd" in out, out
    host = bound[0].split(":")[0]
    assert os.listdir(host) == ["f"] and Path(host, "f").read_text() == "checked\n"
    await node.syncer.teardown(uid, grace=0)
    assert subpath.mounted_under(volumes.pod_dir(uid)) == []
    assert not volumes.pod_dir(uid).exists() and Path("/etc/passwd").exists()


async def test_sub_path_expr_gives_each_pod_its_own_directory(node: Node) -> None:
    """subPathExpr expanded with the container's env (here the pod's name by the downward
    API): the container's /mine is <volume>/<pod name>; a variable it lacks is refused."""
    pod = node.pod([{"name": "main", "command": ["sh", "-c", "echo hi > /mine/f; sleep 3600"],
                     "env": [{"name": "POD", "valueFrom": {
                         "fieldRef": {"fieldPath": "metadata.name"}}}],
                     "volumeMounts": [{"name": "v", "mountPath": "/all"},
                                      {"name": "v", "mountPath": "/mine",
                                       "subPathExpr": "logs/$(POD)"}]}],
                   volumes=[{"name": "v", "emptyDir": {}}])
    await node.until(pod, running)
    main = (await node.containers(pod))["main"]["Id"]
    code, out = await node.syncer.runtime.exec_run(
        main, ["cat", f"/all/logs/{pod['metadata']['name']}/f"])
    assert (code, out) == (0, b"hi\n")
    lacking = node.pod([{"name": "main", "command": ["sleep", "3600"], "volumeMounts": [
        {"name": "v", "mountPath": "/mine", "subPathExpr": "$(NOPE)"}]}],
        volumes=[{"name": "v", "emptyDir": {}}])
    status = await node.until(lacking, lambda s: bool(s.get("containerStatuses")))
    assert status["containerStatuses"][0]["state"]["waiting"] == {
        "reason": "CreateContainerConfigError", "message": "missing value for NOPE"}


async def test_run_as_non_root_and_no_new_privileges(node: Node) -> None:
    """A root image under runAsNonRoot never starts (CreateContainerConfigError with
    Kubernetes' message); allowPrivilegeEscalation: false is no-new-privileges in the
    process itself."""
    root = node.pod([{"name": "main", "command": ["sleep", "3600"]}],
                    securityContext={"runAsNonRoot": True})
    status = await node.until(root, lambda s: bool(s.get("containerStatuses")))
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert waiting["message"].startswith("container has runAsNonRoot and image will run as "
                                         "root")
    assert "main" not in await node.containers(root)
    safe = node.pod([{"name": "main", "command": ["sleep", "3600"], "securityContext": {
        "runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False}}])
    await node.until(safe, running)
    cid = (await node.containers(safe))["main"]["Id"]
    status_lines = "grep -E '^(Uid|NoNewPrivs)' /proc/self/status"
    code, out = await node.syncer.runtime.exec_run(cid, ["sh", "-c", status_lines])
    assert code == 0 and "NoNewPrivs:\t1" in out.decode() and "1000" in out.decode()


async def test_image_pull_errors_back_off(node: Node) -> None:
    pod = node.pod([{"name": "gone", "image": "nosuch.invalid/none:1",
                     "imagePullPolicy": "Always"}])
    status = await node.until(pod, lambda s: bool(s.get("containerStatuses")))
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull" and "nosuch.invalid" in waiting["message"]
    result = await node.syncer.sync(pod)
    assert result.status is not None
    waiting = result.status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ImagePullBackOff" and result.requeue_after
    assert status["phase"] == "Pending"


async def test_host_network_pod_uses_node_address(node: Node) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}], hostNetwork=True)
    status = await node.until(pod, running)
    assert status["podIP"] == HOST_IP
    assert (await node.containers(pod))["main"]["HostConfig"]["NetworkMode"].startswith(
        "container:")


async def test_dead_sandbox_is_replaced_and_containers_follow(node: Node) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}])
    first = await node.until(pod, running)
    before = await node.containers(pod)
    await node.syncer.runtime.kill(before["POD"]["Id"])
    status = await node.until(pod, lambda s: running(s) and s["containerStatuses"][0][
        "restartCount"] == 1)
    after = await node.containers(pod)
    assert after["POD"]["Id"] != before["POD"]["Id"]
    assert after["main"]["HostConfig"]["NetworkMode"] == f"container:{after['POD']['Id']}"
    assert status["podIP"] and first["podIP"]
    kinds = [o.kind for o in await node.syncer.observed(pod["metadata"]["uid"])]
    assert kinds.count(L.SANDBOX) == 1


async def test_failing_init_container_blocks_the_app(node: Node) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}],
                   initContainers=[{"name": "init", "command": ["sh", "-c", "exit 4"]}],
                   restartPolicy="Never")
    status = await node.until(pod, lambda s: s.get("phase") == "Failed")
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert "main" not in await node.containers(pod)


async def test_probe_kinds_against_a_real_pod(node: Node) -> None:
    pod = node.pod([{"name": "web", "ports": [{"name": "http", "containerPort": 8080}],
                     "command": ["sh", "-c", ("mkdir -p /www; echo ok > /www/healthz; "
                                             "exec httpd -f -p 8080 -h /www")]}])
    status = await node.until(pod, running)
    ip, c = status["podIP"], pod["spec"]["containers"][0]
    cid = (await node.containers(pod))["web"]["Id"]
    probes = node.syncer.probes

    async def run(probe: dict[str, Any]) -> bool:
        return await probes.run(probe, c, cid, ip)

    for _ in range(25):  # httpd may take a moment to listen
        if await run({"tcpSocket": {"port": 8080}}):
            break
        await asyncio.sleep(0.2)
    assert await run({"httpGet": {"path": "/healthz", "port": "http"}})
    assert not await run({"httpGet": {"path": "/missing", "port": 8080}})
    assert await run({"tcpSocket": {"port": "http"}})
    assert not await run({"tcpSocket": {"port": 8081}})
    assert await run({"exec": {"command": ["test", "-e", "/www/healthz"]}})
    assert not await run({"exec": {"command": ["false"]}})
    assert not await run({"exec": {"command": ["sleep", "5"]}, "timeoutSeconds": 1})


@pytest.mark.parametrize("volume, reason", [
    pytest.param({"name": "v", "configMap": {"name": "absent"}}, 'configMap "absent" not found',
                 id="missing-configmap"),
    pytest.param({"name": "v", "iscsi": {"targetPortal": "x:3260", "iqn": "iqn.x", "lun": 0}},
                 "unsupported volume type", id="unsupported-type"),
    pytest.param({"name": "v", "hostPath": {"path": "/nonexistent-kt", "type": "Directory"}},
                 "not a directory", id="hostpath-type-check"),
])
async def test_bad_volumes_wait_with_a_reason(node: Node, volume: dict[str, Any],
                                              reason: str) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"],
                     "volumeMounts": [{"name": "v", "mountPath": "/v"}]}], volumes=[volume])
    status = await node.until(pod, lambda s: bool(s.get("containerStatuses")))
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ContainerCreating" and reason in waiting["message"]
    assert status["phase"] == "Pending"
    assert "main" not in await node.containers(pod)


async def test_changed_image_replaces_the_container(node: Node) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}], restartPolicy="Never")
    await node.until(pod, running)
    old = (await node.containers(pod))["main"]["Id"]
    pod["spec"]["containers"][0]["image"] = "minikube-py/pause:1"
    status = await node.until(pod, lambda s: running(s) and s["containerStatuses"][0][
        "restartCount"] == 1)
    new = (await node.containers(pod))["main"]
    assert new["Id"] != old and new["Config"]["Image"] == "minikube-py/pause:1"
    assert status["containerStatuses"][0]["image"] == "minikube-py/pause:1"


async def test_no_network_config_waits_without_making_containers(node: Node,
                                                                 cni_net: CniNet) -> None:
    conf = next(cni_net.conf_dir.iterdir())
    saved = conf.read_text()
    conf.unlink()
    try:
        pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}])
        result = await node.syncer.sync(pod)
        assert result.status is not None and result.requeue_after
        assert result.status["containerStatuses"][0]["state"]["waiting"]["reason"] == \
            "ContainerCreating"
        assert await node.syncer.observed(pod["metadata"]["uid"]) == []
    finally:
        conf.write_text(saved)
    await node.until(pod, running)


async def test_created_but_never_started_container_is_started(node: Node) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}])
    await node.until(pod, running)
    main = (await node.containers(pod))["main"]
    rt = node.syncer.runtime
    await rt.remove(main["Id"])  # as if the agent died between create and start:
    labels = dict(main["Config"]["Labels"], **{L.RESTART_COUNT: "1"})
    cid = await rt.create(image=main["Config"]["Image"], name=main["Name"].strip("/") + "-x",
                          labels=labels, command=["sleep", "3600"], host_config={
                              "network_mode": main["HostConfig"]["NetworkMode"]})
    status = await node.until(pod, running)
    assert status["containerStatuses"][0]["containerID"] == f"docker://{cid}"


async def test_post_start_hook_runs_and_a_failing_one_kills(node: Node) -> None:
    pod = node.pod([
        {"name": "ok", "command": ["sleep", "3600"],
         "lifecycle": {"postStart": {"exec": {"command": ["touch", "/tmp/hooked"]}}}},
        {"name": "bad", "command": ["sleep", "3600"],
         "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 2"]}}}}],
        restartPolicy="Never")
    status = await node.until(pod, lambda s: any(
        "terminated" in c["state"] for c in s.get("containerStatuses", [])))
    by = {c["name"]: c for c in status["containerStatuses"]}
    assert "running" in by["ok"]["state"]
    assert by["bad"]["state"]["terminated"]["exitCode"] == 137
    ok = (await node.containers(pod))["ok"]["Id"]
    assert (await node.syncer.runtime.exec_run(ok, ["test", "-e", "/tmp/hooked"]))[0] == 0


async def test_active_deadline_fails_the_pod(node: Node) -> None:
    pod = node.pod([{"name": "main", "command": ["sleep", "3600"]}], activeDeadlineSeconds=2)
    await node.until(pod, running)
    status = await node.until(pod, lambda s: s.get("phase") == "Failed", timeout=15)
    assert status["reason"] == "DeadlineExceeded"
    assert "terminated" in status["containerStatuses"][0]["state"]


async def test_termination_messages(node: Node) -> None:
    pod = node.pod([
        {"name": "file", "command": ["sh", "-c", "echo done-because > /dev/termination-log"]},
        {"name": "custom", "terminationMessagePath": "/tmp/why",
         "command": ["sh", "-c", "echo custom-path > /tmp/why; exit 1"]},
        {"name": "logs", "terminationMessagePolicy": "FallbackToLogsOnError",
         "command": ["sh", "-c", "echo from-the-log; exit 3"]}], restartPolicy="Never")
    status = await node.until(pod, lambda s: s.get("phase") == "Failed")
    msgs = {c["name"]: c["state"]["terminated"].get("message")
            for c in status["containerStatuses"]}
    assert msgs == {"file": "done-because\n", "custom": "custom-path\n",
                    "logs": "from-the-log\n"}


@pytest.mark.parametrize(("policy", "extra", "expected"), [
    ("ClusterFirst", {}, ("nameserver 10.96.0.10\nsearch default.svc.cluster.local "
     "svc.cluster.local cluster.local lan\noptions ndots:5\n")),
    ("Default", {}, "nameserver 192.0.2.1\nsearch lan\noptions edns0\n"),
    ("None", {"dnsConfig": {"nameservers": ["198.51.100.1"], "searches": ["x.example"],
                            "options": [{"name": "ndots", "value": "2"}]}},
     "nameserver 198.51.100.1\nsearch x.example\noptions ndots:2\n"),
])
async def test_resolv_conf_follows_dns_policy(node: Node, tmp_path: Path, policy: str,
                                              extra: dict[str, Any], expected: str) -> None:
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 127.0.0.53\nsearch lan\noptions edns0\n")  # resolved's stub
    upstream = tmp_path / "resolved.conf"
    upstream.write_text("nameserver 192.0.2.1\n")
    node.syncer.dns = PodDNS(["10.96.0.10"], "cluster.local", host, upstream)
    pod = node.pod([{"name": "main", "command": ["sh", "-c", "sleep 3600"]}],
                   dnsPolicy=policy, **extra)
    await node.until(pod, running)
    ins = (await node.containers(pod))["main"]
    code, out = await node.syncer.runtime.exec_run(ins["Id"], ["cat", "/etc/resolv.conf"])
    assert code == 0 and out.decode() == expected
