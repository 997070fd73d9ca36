"""API resource limits against a real api-server: slow watches, timeouts, in-flight, idle."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator

import psutil
import pytest

from minikube_py.api.resources import PODS
from minikube_py.client.rest import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import free_port

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One server with every limit small (shared: starting one costs seconds)."""
    server = ApiServer(tmp_path_factory.mktemp("apiserver"), free_port(), [
        "--min-request-timeout", "2", "--max-requests-inflight", "1",
        "--max-mutating-requests-inflight", "1", "--idle-connection-timeout", "1",
        "--max-watches-per-user", "3"])
    try:
        server.start()
        yield server
    finally:
        server.stop()


def stalled_watch(server: ApiServer, path: str) -> ssl.SSLSocket:
    """A watch whose client reads the response headers, then nothing more."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    sock = server.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                 f"{server.token}\r\n\r\n".encode())
    head = sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def closed_by_server(sock: ssl.SSLSocket, timeout: float) -> bool:
    """Read what is left: True once the server has closed (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, ssl.SSLError, OSError) as e:
        return not isinstance(e, TimeoutError)
    return True


async def test_a_watch_whose_client_stops_reading_is_closed_and_memory_stays_bounded(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory()
    ns = f"slow-{uuid.uuid4().hex[:6]}"
    status, created = server.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201 and isinstance(created, dict)
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    # From a resourceVersion: no list, so no watch cache of these 80 MiB is started.
    rv = created["metadata"]["resourceVersion"]
    with stalled_watch(server, f"/api/v1/namespaces/{ns}/configmaps?watch=1&"
                               f"resourceVersion={rv}") as sock:
        start_rss, peak_rss = await fill_while_not_read(server, proc, ns)
        assert (peak_rss - start_rss) < 50 * MiB, \
            f"RSS grew {(peak_rss - start_rss) / MiB:.0f} MiB"
        assert await asyncio.to_thread(closed_by_server, sock, 30)
    assert server.metric("apiserver_terminated_watchers_total") >= 1
    # A watch that keeps reading is not affected.
    status, body = server.request(
        "GET", f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion=0&timeoutSeconds=1")
    assert status == 200 and str(body).count('"ADDED"') == 5000


async def fill_while_not_read(server: ApiServer, proc: psutil.Process, ns: str
                              ) -> tuple[int, int]:
    """Create 5,000 ConfigMaps of 16 KiB (80 MiB of events): (RSS before, peak RSS)."""
    start_rss = peak_rss = proc.memory_info().rss
    payload = "x" * 16 * 1024
    async with server.session() as s:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(5000):
            queue.put_nowait(i)

        async def create() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {"metadata": {"name": f"cm-{i}"}, "data": {"v": payload}}
                async with s.post(f"/api/v1/namespaces/{ns}/configmaps", json=body) as r:
                    assert r.status == 201, await r.text()

        async def sample() -> None:
            nonlocal peak_rss
            while True:
                peak_rss = max(peak_rss, proc.memory_info().rss)
                await asyncio.sleep(0.1)

        sampler = asyncio.create_task(sample())
        try:
            await asyncio.gather(*(create() for _ in range(16)))
        finally:
            sampler.cancel()
    return start_rss, peak_rss


def test_timeout_seconds_is_capped_by_min_request_timeout(limited: ApiServer) -> None:
    server = limited
    started = time.monotonic()
    status, _ = server.request("GET", "/api/v1/namespaces?watch=1&timeoutSeconds=600")
    assert status == 200
    assert 2 <= time.monotonic() - started < 6  # 2 s times a random 1-2


async def test_in_flight_limits_answer_429_and_count_watches_apart_and_spare_admins(
        limited: ApiServer) -> None:
    server = limited
    scheduler = (server.data_dir / "pki" / "scheduler.token").read_text().strip()
    headers = {"Authorization": f"Bearer {scheduler}"}
    async with server.session() as s:
        watches = [await s.get("/api/v1/pods", params={"watch": "1"}, headers=headers)
                   for _ in range(3)]  # not in flight (long-running), counted per user
        for w in watches:
            assert w.status == 200
        async with s.get("/api/v1/pods", params={"watch": "1"}, headers=headers) as r:
            assert r.status == 429  # a fourth: past --max-watches-per-user

        async def get() -> tuple[int, str | None, dict[str, object]]:
            async with s.get("/api/v1/pods", headers=headers) as r:
                return r.status, r.headers.get("Retry-After"), await r.json()

        answers = await asyncio.gather(*(get() for _ in range(40)))
        codes = [code for code, _, _ in answers]
        assert 200 in codes and 429 in codes, codes
        _, retry_after, status = next(a for a in answers if a[0] == 429)
        assert retry_after == "1"
        assert status["reason"] == "TooManyRequests" and status["message"] == \
            "Too many requests, please try again later."
        # The admin (system:masters) is never refused.
        async def admin_get() -> int:
            async with s.get("/api/v1/pods") as r:
                return r.status
        assert set(await asyncio.gather(*(admin_get() for _ in range(40)))) == {200}
        for w in watches:
            w.close()
    assert server.metric('apiserver_dropped_requests_total{request_kind="readOnly"}') >= 1
    # Our client waits the Retry-After and sends again: every request gets through.
    async with ApiClient(server.url, token=scheduler, ca_file=server.ca_file) as client:
        lists = await asyncio.gather(*(client.list(PODS) for _ in range(8)))
    assert all(pods["kind"] == "PodList" for pods in lists)


def test_an_idle_connection_is_closed(limited: ApiServer) -> None:
    server = limited
    raw = socket.create_connection(("127.0.0.1", server.port))
    with server.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        started = time.monotonic()
        assert closed_by_server(sock, 10)  # never sent a request
        assert time.monotonic() - started < 5


async def test_lists_come_from_the_watch_cache_and_never_miss_an_acknowledged_write(
        limited: ApiServer) -> None:
    server, ns = limited, f"cache-{uuid.uuid4().hex[:6]}"
    assert server.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    path = f"/api/v1/namespaces/{ns}/configmaps"
    from_cache = 'apiserver_cache_list_total{resource_prefix="/configmaps"}'
    from_etcd = 'etcd_request_duration_seconds_count{operation="list"}'
    async with server.session() as s:
        async def create(name: str) -> None:
            async with s.post(path, json={"metadata": {"name": name}}) as r:
                assert r.status == 201, await r.text()

        async def names(query: str = "") -> list[str]:
            async with s.get(path + query) as r:
                assert r.status == 200
                return [i["metadata"]["name"] for i in (await r.json())["items"]]

        await asyncio.gather(*(create(f"cm-{i:03}") for i in range(200)))
        deadline = time.monotonic() + 10  # the first list starts the cache
        while server.metric(from_cache) == 0 and time.monotonic() < deadline:
            await names()
            await asyncio.sleep(0.05)
        cached, etcd_lists = server.metric(from_cache), server.metric(from_etcd)
        for _ in range(20):
            assert await names() == [f"cm-{i:03}" for i in range(200)]  # in key order
        assert await names("?resourceVersion=0") == [f"cm-{i:03}" for i in range(200)]
        assert server.metric(from_cache) - cached == 21
        assert server.metric(from_etcd) - etcd_lists < 5  # not a range per list
        for i in range(10):  # a list right after a write always shows it
            await create(f"new-{i}")
            assert f"new-{i}" in await names()
            async with s.delete(f"{path}/cm-{i:03}") as r:
                assert r.status == 200
            assert f"cm-{i:03}" not in await names()
        # A page is still read from etcd at one revision.
        async with s.get(path, params={"limit": "50"}) as r:
            page = await r.json()
        assert len(page["items"]) == 50 and page["metadata"]["continue"]
