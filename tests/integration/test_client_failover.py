"""Client-side fail-over (client/failover.py, agent/apiservers.py) against a real
api-server: a configured server that refuses connections is skipped for the fallbacks,
reads and watches go on there, and the configured server is tried again once it answers.
The fallback list comes from the `kubernetes` Endpoints, as an agent reads it."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from agent.apiservers import servers_of
from minikube_py.api.resources import CONFIGMAPS, ENDPOINTS, NAMESPACES
from minikube_py.client import ApiClient
from minikube_py.client.errors import ConnectionFailed
from minikube_py.client.failover import ServerList
from tests.fixtures.apiserver import ApiServer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_requests_and_watches_fail_over_and_come_back(apiserver: ApiServer) -> None:
    dead = f"https://127.0.0.1:{closed_port()}"
    async with ApiClient(dead, token=apiserver.token, ca_file=apiserver.ca_file,
                         retries=0, connect_timeout=2) as client:
        client.servers.set_fallbacks([apiserver.url])
        assert (await client.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
        assert client.server == apiserver.url
        # The `kubernetes` Endpoints name the api-server: what an agent fails over to.
        kubernetes = await client.get(ENDPOINTS, "kubernetes", "default")
        assert servers_of(kubernetes) == [f"https://{a['ip']}:{p['port']}"
                                          for s in kubernetes["subsets"]
                                          for a in s["addresses"] for p in s["ports"]]
        client.servers.current = dead  # a watch started on the dead one moves as well
        events = client.watch_path("/api/v1/namespaces/default/configmaps",
                                   {"timeoutSeconds": "5"})
        with pytest.raises(ConnectionFailed, match="WATCH"):
            await anext(aiter(events))
        assert client.server == apiserver.url
        await client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "failed-over"}}, "default")
        await client.delete(CONFIGMAPS, "failed-over", "default")


def test_the_configured_server_is_preferred_again() -> None:
    servers = ServerList("https://vip:6443", prefer_primary_after=0.2)
    servers.set_fallbacks(["https://a:6443", "https://vip:6443/", "https://b:6443"])
    assert servers.fallbacks == ["https://a:6443", "https://b:6443"]
    assert servers.failed("https://vip:6443") and servers.pick() == "https://a:6443"
    assert servers.failed("https://a:6443") and servers.pick() == "https://b:6443"
    # A late failure of a server already left moves nothing.
    assert servers.failed("https://vip:6443") and servers.current == "https://b:6443"
    time.sleep(0.25)
    assert servers.pick() == "https://vip:6443"
    assert not ServerList("https://only:6443").failed("https://only:6443")


async def test_nothing_to_fail_over_to_is_the_old_error(apiserver: ApiServer) -> None:
    dead = f"https://127.0.0.1:{closed_port()}"
    async with ApiClient(dead, token=apiserver.token, ca_file=apiserver.ca_file,
                         retries=0) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="ClientConnectorError"):
            await asyncio.wait_for(client.get(NAMESPACES, "default"), 10)
        assert time.monotonic() - started < 5


async def test_a_server_gone_silent_is_left_for_the_next(apiserver: ApiServer) -> None:
    """A peer that accepts and never answers (a dead host behind a kept-alive connection,
    a blackholed VIP): the request times out and is not resent (it may have been
    applied), but the next one goes to the fallback."""
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda _, w: accepted.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with ApiClient(f"https://127.0.0.1:{port}", token=apiserver.token,
                             ca_file=apiserver.ca_file, retries=0, timeout=1) as client:
            client.servers.set_fallbacks([apiserver.url])
            with pytest.raises(ConnectionFailed, match="Timeout"):
                await client.get(NAMESPACES, "default")
            assert client.server == apiserver.url
            assert (await client.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()
