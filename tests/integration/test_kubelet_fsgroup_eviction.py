"""fsGroup on a pod's volumes and emptyDir sizeLimit eviction, with the real agent on
dockerd: a non-root container in the pod's fsGroup writes its emptyDir (what it makes
there is the group's) and reads a 0400 Secret (0440, the group's); a pod writing past its
emptyDir's sizeLimit is evicted with kubelet's reason, message and event."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from minikube_py.api.resources import EVENTS, PODS, SECRETS
from minikube_py.client import ApiClient
from tests.fixtures.node_agent import Agent, create, is_running, make_pod, status_when
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]
GID = 2345


async def _log(apiserver: Any, name: str) -> str | None:
    code, text = await asyncio.to_thread(
        apiserver.request, "GET", f"/api/v1/namespaces/default/pods/{name}/log")
    return text if code == 200 and isinstance(text, str) and "done" in text else None


async def test_volumes_belong_to_the_pods_fs_group(agent: Agent, api: ApiClient,
                                                   apiserver: Any) -> None:
    secret = f"fsg-{uuid.uuid4().hex[:6]}"
    await api.create(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": secret, "namespace": "default"},
                               "stringData": {"key": "s3cret"}})
    script = ("stat -c 'dir %g %a' /data; touch /data/new; stat -c 'new %g' /data/new; "
              "stat -L -c 'secret %g %a' /secret/key; echo \"read $(cat /secret/key)\"; "
              "echo done; exec sleep 3600")
    pod = await create(api, make_pod(agent.node, [{
        "name": "c", "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                         {"name": "secret", "mountPath": "/secret"}]}],
        securityContext={"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": GID},
        volumes=[{"name": "data", "emptyDir": {}},
                 {"name": "secret", "secret": {"secretName": secret, "defaultMode": 0o400}}]))
    try:
        await status_when(api, pod, is_running, what="Running")
        text = await eventually(lambda: _log(apiserver, pod["metadata"]["name"]), timeout=20,
                                what="the container's report")
        lines = text.splitlines()
        assert f"dir {GID} 2777" in lines  # emptyDir: 0777 | rw for the group, setgid
        assert f"new {GID}" in lines  # what the container makes is the group's
        assert f"secret {GID} 440" in lines and "read s3cret" in lines, lines
    finally:
        await api.delete(PODS, pod["metadata"]["name"], "default")
        await api.delete(SECRETS, secret, "default")


async def _evicted(api: ApiClient, name: str) -> list[dict[str, Any]]:
    items = (await api.list(EVENTS, "default"))["items"]
    return [e for e in items if e["involvedObject"].get("name") == name
            and e["reason"] == "Evicted"]


async def test_an_empty_dir_over_its_size_limit_gets_the_pod_evicted(
        agent: Agent, api: ApiClient) -> None:
    pod = await create(api, make_pod(agent.node, [{
        "name": "c",
        "command": ["sh", "-c", "dd if=/dev/zero of=/cache/blob bs=1024 count=3072; sleep 3600"],
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
        volumes=[{"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}}]))
    message = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi". '
    try:
        st = await status_when(api, pod, lambda s: s.get("phase") == "Failed", timeout=45,
                               what="evicted")
        assert (st["reason"], st["message"]) == ("Evicted", message)
        assert all("terminated" in c["state"] for c in st["containerStatuses"])
        events = await eventually(lambda: _evicted(api, pod["metadata"]["name"]), timeout=10,
                                  what="the Evicted event")
        assert events[0]["type"] == "Warning" and events[0]["message"] == message
    finally:
        await api.delete(PODS, pod["metadata"]["name"], "default")
