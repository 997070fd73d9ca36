"""A continuous write load and a watch through one API address, recording what chaos must
not break: every acknowledged write (name -> content), how long writes stopped after a
fault, and whether a watch ever saw a resourceVersion go backwards. Used by the HA chaos
tests (tests/e2e/test_lab_ha.py) and bench/ha.py; plain threads and urllib, so what is
measured is the cluster, not an event loop shared with the checks."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minikube_py.api.resources import CONFIGMAPS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, ClientError

TIMEOUT = 2.0  # a request that takes longer counts as failed and is retried


@dataclass(frozen=True)
class Api:
    """Where and as whom: the kubeconfig's server, CA and token."""

    server: str
    token: str
    context: ssl.SSLContext

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Api:
        import base64
        doc = yaml.safe_load(path.read_text())
        cluster = doc["clusters"][0]["cluster"]
        ctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        return cls(cluster["server"], doc["users"][0]["user"]["token"], ctx)

    def request(self, method: str, path: str, body: object = None,
                timeout: float = TIMEOUT) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            with e:
                raw = e.read()
            try:
                return e.code, json.loads(raw or b"null")
            except ValueError:
                return e.code, raw.decode(errors="replace")


def configmap(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"v": value}}


@dataclass
class WriteLoad:
    """Creates ConfigMaps w-0, w-1, ... one at a time, each retried until acknowledged."""

    api: Api
    namespace: str = "default"
    prefix: str = "w"
    acked: dict[str, str] = field(default_factory=dict)
    done_at: list[tuple[float, float]] = field(default_factory=list)  # (started, acked)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> WriteLoad:
        self._thread = threading.Thread(target=self._run, name="ha-write-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/configmaps"
        i = 0
        while not self._stop.is_set():
            name, value = f"{self.prefix}-{i}", f"value-{i}-{time.time_ns()}"
            while not self._stop.is_set():
                started = time.monotonic()
                if self._create(path, name, value):
                    self.acked[name] = value
                    self.done_at.append((started, time.monotonic()))
                    break
                self.failures += 1
                time.sleep(0.05)
            i += 1

    def _create(self, path: str, name: str, value: str) -> bool:
        try:
            status, _ = self.api.request("POST", path, configmap(name, value))
            if status == 409:  # an earlier attempt landed: ours only with our content
                status, body = self.api.request("GET", f"{path}/{name}")
                return status == 200 and body["data"]["v"] == value
            return status == 201
        except (OSError, TimeoutError, ValueError):
            return False

    def resumed_after(self, fault_at: float) -> float | None:
        """Seconds from the fault to the acknowledgement of the first write begun after it."""
        after = [acked for started, acked in list(self.done_at) if started >= fault_at]
        return min(after) - fault_at if after else None

    def wait_resumed(self, fault_at: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seconds = self.resumed_after(fault_at)
            if seconds is not None:
                return seconds
            time.sleep(0.05)
        raise TimeoutError(f"writes did not resume within {timeout}s of the fault")

    def missing(self) -> list[str]:
        """Acknowledged writes not stored with the acknowledged content (should be none).
        Those acknowledged before the list is read: the load may still be running."""
        acked = dict(self.acked)
        stored: dict[str, str | None] = {}
        token = ""
        while True:  # in pages: thousands of writes make one list slow under chaos load
            status, body = self.api.request(
                "GET", f"/api/v1/namespaces/{self.namespace}/configmaps?limit=500"
                f"&continue={token}", timeout=60)
            assert status == 200, body
            stored.update((i["metadata"]["name"], i.get("data", {}).get("v"))
                          for i in body["items"])
            token = body["metadata"].get("continue") or ""
            if not token:
                return sorted(n for n, v in acked.items() if stored.get(n) != v)


@dataclass
class FailoverWriteLoad(WriteLoad):
    """The same creates through our ApiClient holding every api-server as a fallback, as
    agents and components do (k3s's agent load balancer: the VIP first, the next server
    when it does not answer within the timeout); its own event loop in the load's thread."""

    kubeconfig: Path = Path("admin.conf")  # the VIP's, as Api.from_kubeconfig read it
    fallbacks: tuple[str, ...] = ()
    _client: ApiClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def _create(self, path: str, name: str, value: str) -> bool:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self._acreate(name, value))

    def stop(self) -> None:
        super().stop()
        if self._loop is not None and self._client is not None:
            self._loop.run_until_complete(self._client.close())
            self._loop.close()

    async def _acreate(self, name: str, value: str) -> bool:
        if self._client is None:
            self._client = ApiClient.from_kubeconfig(self.kubeconfig, timeout=TIMEOUT,
                                                     connect_timeout=TIMEOUT, retries=0)
            self._client.servers.set_fallbacks(list(self.fallbacks))
        try:
            await self._client.create(CONFIGMAPS, configmap(name, value), self.namespace)
            return True
        except AlreadyExists:  # an earlier attempt landed: ours only with our content
            got = await self._client.get(CONFIGMAPS, name, self.namespace)
            return bool(got.get("data", {}).get("v") == value)
        except (ClientError, OSError, TimeoutError):
            return False


@dataclass
class WatchRecorder:
    """Watches ConfigMaps, reconnecting from the last resourceVersion seen, and records every
    event's resourceVersion that is not above the one before it."""

    api: Api
    namespace: str = "default"
    seen: int = 0
    last_rv: int = 0
    backwards: list[tuple[int, int]] = field(default_factory=list)
    reconnects: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> WatchRecorder:
        status, body = self.api.request(
            "GET", f"/api/v1/namespaces/{self.namespace}/configmaps?limit=1", timeout=30)
        assert status == 200, body
        self.last_rv = int(body["metadata"]["resourceVersion"])
        self._thread = threading.Thread(target=self._run, name="ha-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            path = (f"/api/v1/namespaces/{self.namespace}/configmaps?watch=1"
                    f"&allowWatchBookmarks=true&resourceVersion={self.last_rv}"
                    "&timeoutSeconds=30")
            req = urllib.request.Request(self.api.server + path, headers={
                "Authorization": f"Bearer {self.api.token}"})
            try:
                with urllib.request.urlopen(req, context=self.api.context, timeout=5) as r:
                    for line in r:
                        if self._stop.is_set():
                            return
                        self._event(json.loads(line))
            except (OSError, TimeoutError, ValueError):
                time.sleep(0.2)
            self.reconnects += 1

    def _event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "ERROR":
            raise ValueError(f"watch error {event}")  # e.g. 410: re-listing is not a test
        rv = int(event["object"]["metadata"]["resourceVersion"])
        if event["type"] != "BOOKMARK":
            self.seen += 1
            if rv <= self.last_rv:
                self.backwards.append((self.last_rv, rv))
        self.last_rv = max(self.last_rv, rv)
