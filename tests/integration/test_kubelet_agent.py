"""The whole agent (`minikube-py agent` subprocess) against a real api-server and dockerd.

Pods are created bound to the agent's node (no scheduler needed); everything the
agent made carries its unique node label and is removed at teardown.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest

from agent.kubelet import labels as L
from agent.kubelet.images import BUSYBOX_IMAGE, PAUSE_COMMAND, PAUSE_IMAGE
from minikube_py.api.resources import EVENTS, LEASES, NAMESPACES, NODES, PODS
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from tests.fixtures.docker import CniNet, remove_containers
from tests.fixtures.node_agent import Agent, create, is_running, make_pod, status_when
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]


async def tls_closed() -> None:
    """Let the TLS shutdown of a just-closed aiohttp session finish on this loop: a stream
    cut mid-flight closes its socket asynchronously, and a loop closed first leaves it to
    the garbage collector (an unclosed-socket ResourceWarning in some later test). This is
    aiohttp's documented graceful-shutdown pause."""
    await asyncio.sleep(0.25)


def condition(st: dict[str, Any], ctype: str) -> str:
    return next((c["status"] for c in st.get("conditions") or [] if c["type"] == ctype), "")


def docker_ids(node: str, uid: str) -> dict[str, str]:
    client = docker.from_env()
    try:
        return {c["Labels"][L.CONTAINER_NAME]: c["Id"] for c in client.api.containers(
            all=True, filters={"label": [f"{L.NODE}={node}", f"{L.POD_UID}={uid}"]})}
    finally:
        client.close()


async def test_node_registered_with_lease(agent: Agent, api: ApiClient) -> None:
    node = await eventually(lambda: _get(api, NODES, agent.node), what="node")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == agent.node
    st = await eventually(lambda: _ready_node(api, agent.node), what="node Ready")
    assert int(st["capacity"]["cpu"]) == os.cpu_count()
    assert st["capacity"]["pods"] == "110" and st["capacity"]["memory"].endswith("Ki")
    assert {"type": "InternalIP", "address": "127.0.0.1"} in st["addresses"]
    assert st["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    lease = await eventually(lambda: _get(api, LEASES, agent.node, "kube-node-lease"),
                             what="lease")
    assert lease["spec"]["holderIdentity"] == agent.node


async def test_node_takes_ready_back_after_the_controller_marked_it_unknown(
        agent: Agent, api: ApiClient) -> None:
    """The node lifecycle controller writes Unknown while the agent is silent; the next
    heartbeat must put the truth back at once, not at the next periodic report."""
    await eventually(lambda: _ready_node(api, agent.node), what="node Ready")
    node = await api.get(NODES, agent.node)
    conds = [dict(c, status="Unknown", reason="NodeStatusUnknown")
             if c["type"] == "Ready" else c for c in node["status"]["conditions"]]
    await api.patch(NODES, agent.node, {"status": {"conditions": conds}}, subresource="status",
                    patch_type="strategic")
    assert await _node_condition(api, agent.node, "Ready", "Unknown")
    await eventually(lambda: _node_condition(api, agent.node, "Ready", "True"), timeout=25,
                     what="Ready back to True")


async def _get(api: ApiClient, res: Any, name: str, ns: str | None = None) -> Any:
    try:
        return await api.get(res, name, ns)
    except NotFound:
        return None


async def _node_condition(api: ApiClient, name: str, ctype: str, status: str) -> Any:
    node = await _get(api, NODES, name)
    conds = ((node or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conds if c["type"] == ctype and c["status"] == status), None)


async def _ready_node(api: ApiClient, name: str) -> Any:
    node = await _get(api, NODES, name)
    st = (node or {}).get("status") or {}
    return st if condition(st, "Ready") == "True" else None


async def test_pod_runs_and_reports_status(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [
        {"name": "web", "command": ["sh", "-c", "echo hello-log; exec httpd -f -p 8080"],
         "env": [{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
         "resources": {"limits": {"memory": "32Mi"}}}]))
    st = await status_when(api, pod, is_running, what="Running")
    assert st["podIP"].startswith(agent.net.subnet.rsplit(".", 1)[0] + ".")
    assert st["hostIP"] == "127.0.0.1" and st["startTime"]
    assert condition(st, "Ready") == "True" and condition(st, "PodScheduled") == "True"
    cs = st["containerStatuses"][0]
    ids = docker_ids(agent.node, pod["metadata"]["uid"])
    assert cs["containerID"] == f"docker://{ids['web']}" and cs["restartCount"] == 0
    assert cs["ready"] is True and cs["started"] is True and cs["image"] == BUSYBOX_IMAGE
    inspect = docker.from_env().api.inspect_container(ids["web"])
    assert f"MY_IP={st['podIP']}" in inspect["Config"]["Env"]
    assert inspect["HostConfig"]["Memory"] == 32 * 2**20


async def test_crash_loop_backoff_timing(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{"name": "crash",
                                                    "command": ["sh", "-c", "exit 3"]}]))
    seen: dict[int, float] = {}
    reasons: set[str] = set()
    ready_while_backing_off: set[str] = set()

    def watch(st: dict[str, Any]) -> bool:
        for cs in st.get("containerStatuses") or []:
            seen.setdefault(cs["restartCount"], time.monotonic())
            reasons.update(s.get("reason", "") for s in cs["state"].values())
            if (cs["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                ready_while_backing_off.add(condition(st, "Ready"))
        return 2 in seen

    st = await status_when(api, pod, watch, timeout=40, what="two restarts")
    assert "CrashLoopBackOff" in reasons
    assert seen[2] - seen[1] >= 9.0, seen  # second restart waits out the 10 s window
    last = st["containerStatuses"][0]["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (3, "Error")
    # Between crashes the container runs for an instant and may be seen Ready, as on
    # Kubernetes; while it waits out the back-off the pod is never Ready.
    assert st["phase"] == "Running" and ready_while_backing_off == {"False"}
    assert await eventually(lambda: _events_for(api, pod["metadata"]["name"], "BackOff"),
                            what="BackOff event")


async def test_liveness_failure_restarts(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "live", "command": ["sleep", "3600"],
        "livenessProbe": {"exec": {"command": ["sh", "-c", "! test -e /tmp/dead"]},
                          "periodSeconds": 1, "failureThreshold": 2}}]))
    await status_when(api, pod, is_running, what="Running")
    cid = docker_ids(agent.node, pod["metadata"]["uid"])["live"]
    docker.from_env().api.exec_start(
        docker.from_env().api.exec_create(cid, ["touch", "/tmp/dead"])["Id"])
    st = await status_when(api, pod, lambda s: is_running(s) and s["containerStatuses"][0][
        "restartCount"] == 1, timeout=30, what="restart after liveness failure")
    assert st["containerStatuses"][0]["containerID"] != f"docker://{cid}"


async def test_readiness_toggles_ready(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "r", "command": ["sleep", "3600"],
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}}]))
    st = await status_when(api, pod, is_running, what="Running")
    assert condition(st, "Ready") == "False"
    cid = docker_ids(agent.node, pod["metadata"]["uid"])["r"]
    dk = docker.from_env().api
    dk.exec_start(dk.exec_create(cid, ["touch", "/tmp/ready"])["Id"])
    await status_when(api, pod, lambda s: condition(s, "Ready") == "True", what="Ready")
    dk.exec_start(dk.exec_create(cid, ["rm", "/tmp/ready"])["Id"])
    st = await status_when(api, pod, lambda s: condition(s, "Ready") == "False",
                           what="not Ready")
    assert st["containerStatuses"][0]["ready"] is False


async def test_graceful_delete_honours_grace_period(agent: Agent, api: ApiClient,
                                                    tmp_path: Path) -> None:
    label = "pod-security.kubernetes.io/enforce"
    await api.patch(NAMESPACES, "default", {"metadata": {"labels": {label: "privileged"}}})
    try:  # a hostPath volume is not baseline
        await _graceful_delete(agent, api, tmp_path)
    finally:
        await api.patch(NAMESPACES, "default", {"metadata": {"labels": {label: None}}})


async def _graceful_delete(agent: Agent, api: ApiClient, tmp_path: Path) -> None:
    marker = tmp_path / "prestop"
    pod = await create(api, make_pod(agent.node, [{
        "name": "stubborn", "command": ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
        "lifecycle": {"preStop": {"exec": {"command": ["touch", "/host/prestop"]}}},
        "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
        volumes=[{"name": "host", "hostPath": {"path": str(tmp_path)}}],
        terminationGracePeriodSeconds=3))
    await status_when(api, pod, is_running, what="Running")
    uid = pod["metadata"]["uid"]
    start = time.monotonic()
    await api.delete(PODS, pod["metadata"]["name"], "default")
    await eventually(lambda: _gone(api, pod["metadata"]["name"]), timeout=20, what="deletion")
    took = time.monotonic() - start
    assert 3.0 <= took < 15.0, took  # TERM ignored: SIGKILL once the 3 s grace (not 30 s) is over
    assert marker.exists()
    assert docker_ids(agent.node, uid) == {}


async def _gone(api: ApiClient, name: str) -> bool:
    return await _get(api, PODS, name, "default") is None


async def test_orphan_container_removed(agent: Agent, api: ApiClient) -> None:
    uid = str(uuid.uuid4())
    dk = docker.from_env().api
    cid = dk.create_container(PAUSE_IMAGE, command=PAUSE_COMMAND, labels={
        L.NODE: agent.node, L.POD_UID: uid, L.POD_NAMESPACE: "default", L.POD_NAME: "ghost",
        L.KIND: L.APP, L.CONTAINER_NAME: "ghost"}, host_config=dk.create_host_config(
        network_mode="none"))["Id"]
    dk.start(cid)
    await eventually(lambda: asyncio.to_thread(lambda: docker_ids(agent.node, uid) == {}),
                     timeout=30, what="orphan removal")


async def test_logs_and_exec_through_apiserver(agent: Agent, api: ApiClient,
                                               apiserver: Any) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "talk", "command": ["sh", "-c", ("for i in 1 2 3; do echo line$i; done; "
                                                "exec sleep 3600")]}]))
    await status_when(api, pod, is_running, what="Running")
    name = pod["metadata"]["name"]

    async def tail() -> Any:  # Running can be reported before the shell has echoed
        code, text = await asyncio.to_thread(
            apiserver.request, "GET", f"/api/v1/namespaces/default/pods/{name}/log?tailLines=2")
        assert code == 200, text
        return text == "line2\nline3\n"
    await eventually(tail, timeout=10, what="the last two log lines")
    kubectl = ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", "default"]
    out = await asyncio.to_thread(subprocess.run, kubectl + [
        "exec", name, "--", "sh", "-c", "echo out-$HOSTNAME; echo err >&2; exit 7"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 7, out
    assert out.stdout == f"out-{name}\n" and "err" in out.stderr
    out = await asyncio.to_thread(subprocess.run, kubectl + ["exec", "-i", name, "--", "cat"],
                                  input="via-stdin\n", capture_output=True, text=True,
                                  timeout=60)
    assert (out.returncode, out.stdout) == (0, "via-stdin\n"), out


async def test_kill9_and_restart_adopts(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "once", "command": ["sh", "-c", ("[ -e /d/x ] && exec sleep 3600; touch /d/x; "
                                                "exit 1")],
        "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
        volumes=[{"name": "d", "emptyDir": {}}]))
    st = await status_when(api, pod, lambda s: is_running(s) and s["containerStatuses"][0][
        "restartCount"] == 1, what="Running after one restart")
    uid = pod["metadata"]["uid"]
    before = docker_ids(agent.node, uid)
    agent.kill9()
    assert docker_ids(agent.node, uid) == before  # containers outlive the agent
    agent.start()
    await asyncio.sleep(6)  # a restarted agent syncs everything at once
    after = await status_when(api, pod, is_running, what="Running after agent restart")
    assert docker_ids(agent.node, uid) == before
    assert after["containerStatuses"][0]["restartCount"] == 1
    assert after["containerStatuses"][0]["containerID"] == st["containerStatuses"][0][
        "containerID"]


async def test_steady_pod_status_is_not_rewritten(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{"name": "s", "command": ["sleep", "3600"]}]))
    await status_when(api, pod, lambda s: is_running(s) and condition(s, "Ready") == "True",
                      what="Ready")
    await asyncio.sleep(1)
    rv = (await api.get(PODS, pod["metadata"]["name"], "default"))["metadata"]["resourceVersion"]
    await asyncio.sleep(11)  # past one resync of every pod
    again = await api.get(PODS, pod["metadata"]["name"], "default")
    assert again["metadata"]["resourceVersion"] == rv


async def test_pod_too_big_for_the_node_fails_with_a_reason(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "huge", "command": ["sleep", "3600"],
        "resources": {"requests": {"memory": "64Ti"}}}]))
    st = await status_when(api, pod, lambda s: s.get("phase") == "Failed", what="Failed")
    assert st["reason"] == "OutOfmemory" and "memory" in st["message"]
    assert docker_ids(agent.node, pod["metadata"]["uid"]) == {}
    events = await eventually(lambda: _events_for(api, pod["metadata"]["name"], "OutOfmemory"),
                              what="OutOfmemory event")
    assert events[0]["type"] == "Warning"


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _events_for(api: ApiClient, name: str, reason: str) -> list[dict[str, Any]]:
    items = (await api.list(EVENTS, "default"))["items"]
    return [e for e in items if e["involvedObject"].get("name") == name and e["reason"] == reason]


class DockerSocketProxy:
    """A unix socket forwarding to dockerd that can be cut: dockerd 'unreachable' for one
    agent without touching the shared daemon."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._handle, path=str(self.path))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection("/var/run/docker.sock")
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        await self.server.wait_closed()
        self.path.unlink(missing_ok=True)


async def test_dockerd_unreachable_is_waited_out(apiserver: Any, busybox_image: str,
                                                 cni_net_module: CniNet, api: ApiClient,
                                                 tmp_path: Path) -> None:
    sock = DockerSocketProxy(tmp_path / "docker.sock")
    await sock.start()
    a = Agent(apiserver, cni_net_module, tmp_path / "agent", "--docker-host",
              f"unix://{sock.path}")
    a.start()
    try:
        pod = await create(api, make_pod(a.node, [{"name": "s", "command": ["sleep", "3600"]}]))
        st = await status_when(api, pod, is_running, what="Running")
        ids = docker_ids(a.node, pod["metadata"]["uid"])
        await sock.stop()
        started = time.monotonic()
        node = await eventually(lambda: _node_condition(api, a.node, "Ready", "False"),
                                timeout=15, what="node NotReady while dockerd is away")
        assert node["reason"] == "KubeletNotReady" and "runtime" in node["message"]
        await asyncio.sleep(max(0.0, 12 - (time.monotonic() - started)))  # past a resync
        during = (await api.get(PODS, pod["metadata"]["name"], "default"))["status"]
        assert during == st, a.tail()
        await sock.start()
        await eventually(lambda: _node_condition(api, a.node, "Ready", "True"), timeout=15,
                         what="node Ready again")
        docker.from_env().api.kill(ids["s"])
        after = await status_when(api, pod, lambda s: is_running(s) and s["containerStatuses"][
            0]["restartCount"] == 1, what="restart once dockerd is back")
        assert after["phase"] == "Running"
        assert "Traceback" not in a.log.read_text()
        assert docker_ids(a.node, pod["metadata"]["uid"])["POD"] == ids["POD"]
    finally:
        a.stop()
        remove_containers(L.NODE, a.node)
        if sock.server is not None and sock.server.is_serving():
            await sock.stop()


async def test_log_options_through_apiserver(agent: Agent, api: ApiClient, apiserver: Any) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "n", "command": ["sh", "-c", ("n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); "
                                             "echo $n > /d/n; echo attempt-$n; "
                                             "[ $n -ge 2 ] && exec sleep 3600; exit 1")],
        "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
        volumes=[{"name": "d", "emptyDir": {}}]))
    await status_when(api, pod, lambda s: is_running(s) and s["containerStatuses"][0][
        "restartCount"] == 1, what="second attempt running")
    path = f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log"

    async def get(query: str) -> str:
        code, text = await asyncio.to_thread(apiserver.request, "GET", f"{path}?{query}")
        assert code == 200, text
        return str(text)

    await eventually(lambda: _equals(get(""), "attempt-2\n"), timeout=10, what="current log")
    assert await get("previous=true") == "attempt-1\n"
    assert await get("limitBytes=4") == "atte"
    stamped = await get("timestamps=true")
    assert stamped.endswith(" attempt-2\n") and stamped[:4].isdigit() and "T" in stamped[:20]
    ssl_ctx = apiserver.ssl_context()
    async with aiohttp.ClientSession() as http, http.get(
            f"{apiserver.url}{path}?follow=true", ssl=ssl_ctx,
            headers={"Authorization": f"Bearer {apiserver.token}"}) as resp:
        assert await asyncio.wait_for(resp.content.readline(), 10) == b"attempt-2\n"
        with pytest.raises(asyncio.TimeoutError):  # follow keeps the stream open
            await asyncio.wait_for(resp.content.readline(), 1)
    await tls_closed()


async def test_deletion_survives_an_agent_kill_midway(agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "stubborn", "command": ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]}],
        terminationGracePeriodSeconds=4))
    await status_when(api, pod, is_running, what="Running")
    uid = pod["metadata"]["uid"]
    await api.delete(PODS, pod["metadata"]["name"], "default")
    await asyncio.sleep(1.5)  # the agent is now waiting out the grace period
    agent.kill9()
    assert docker_ids(agent.node, uid)  # not finished: the containers are still there
    agent.start()
    await eventually(lambda: _gone(api, pod["metadata"]["name"]), timeout=30,
                     what="deletion finished by the restarted agent")
    assert docker_ids(agent.node, uid) == {}


async def _exec_ws(port: int, token: str, pod: str, query: str, protocol: str,
                   send: list[bytes]) -> tuple[dict[int, bytes], dict[str, Any]]:
    """One exec over the kubelet's WebSocket: output per channel and the final Status."""
    out: dict[int, bytes] = {}
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"https://127.0.0.1:{port}/exec/default/{pod}/c?{query}", ssl=False,
            protocols=[protocol], headers={"Authorization": f"Bearer {token}"}) as ws:
        assert ws.protocol == protocol
        for frame in send:
            await ws.send_bytes(frame)
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            out[msg.data[0]] = out.get(msg.data[0], b"") + msg.data[1:]
    await tls_closed()
    return out, json.loads(out.get(3, b"{}"))


async def test_exec_channels_tty_resize_and_stdin_close(agent: Agent, api: ApiClient,
                                                        apiserver: Any) -> None:
    pod = await create(api, make_pod(agent.node, [{"name": "c", "command": ["sleep", "3600"]}]))
    await status_when(api, pod, is_running, what="Running")
    node = await eventually(lambda: _ready_node(api, agent.node), what="node Ready")
    port, name = node["daemonEndpoints"]["kubeletEndpoint"]["Port"], pod["metadata"]["name"]
    resize = bytes([4]) + json.dumps({"Width": 100, "Height": 40}).encode()
    out, st = await _exec_ws(port, apiserver.token, name,
                             "command=sh&command=-c&command=sleep+0.5%3B+stty+size&stdout=1"
                             "&stdin=1&tty=1", "v5.channel.k8s.io", [resize])
    assert out[1].strip() == b"40 100" and st["status"] == "Success"
    out, st = await _exec_ws(port, apiserver.token, name,
                             "command=cat&stdin=1&stdout=1&stderr=1", "v5.channel.k8s.io",
                             [b"\x00hello", bytes([255, 0])])
    assert out[1] == b"hello" and st["status"] == "Success"
    out, st = await _exec_ws(port, apiserver.token, name,
                             "command=sh&command=-c&command=echo+e+%3E%262%3B+exit+3&stdout=1"
                             "&stderr=1", "v4.channel.k8s.io", [])
    assert out[2] == b"e\n"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_force_deleted_pod_replaced_under_the_same_name(agent: Agent,
                                                              api: ApiClient) -> None:
    spec = make_pod(agent.node, [{"name": "c", "command": ["sleep", "3600"]}])
    first = await create(api, spec)
    await status_when(api, first, is_running, what="first Running")
    await api.delete(PODS, first["metadata"]["name"], "default", grace_period_seconds=0)
    second = await create(api, spec)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    await status_when(api, second, is_running, what="second Running")
    await eventually(lambda: asyncio.to_thread(
        lambda: docker_ids(agent.node, first["metadata"]["uid"]) == {}), timeout=20,
        what="first pod's containers removed")
    assert set(docker_ids(agent.node, second["metadata"]["uid"])) == {"POD", "c"}


async def test_kubectl_cp_streams_stdin_through_exec(agent: Agent, api: ApiClient,
                                                     apiserver: Any, tmp_path: Path) -> None:
    pod = await create(api, make_pod(agent.node, [{"name": "c", "command": ["sleep", "3600"]}]))
    await status_when(api, pod, is_running, what="Running")
    data = os.urandom(1 << 20)
    src = tmp_path / "blob"
    src.write_bytes(data)
    kubectl = ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", "default"]
    name = pod["metadata"]["name"]
    cp = await asyncio.to_thread(subprocess.run, kubectl + ["cp", str(src), f"{name}:/tmp/blob"],
                                 capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp
    out = await asyncio.to_thread(subprocess.run, kubectl + ["exec", name, "--", "md5sum",
                                                             "/tmp/blob"],
                                  capture_output=True, text=True, timeout=60)
    assert out.stdout.split()[0] == hashlib.md5(data).hexdigest(), out
