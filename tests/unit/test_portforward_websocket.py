"""Port-forward over the WebSocket channel protocol: the ports a query carries (the
api-server's conversion and the kubelet's checks, with Kubernetes' messages), and the
kubelet's channel framing against a local TCP server standing in for the pod's port (the
netns dial is our own seam; the integration test crosses it)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from agent.kubelet import poddial, portforward_ws
from agent.kubelet.poddial import Sandbox
from minikube_py.api.portforward import convert_ports, kubelet_ports

SANDBOX = Sandbox(pid=1, full_name="web_default", uid="u-1")


@pytest.mark.parametrize(("values", "expected"), [
    (["8080"], [8080]), (["8080,9090", "1"], [8080, 9090, 1]), ([], []), (["0"], [0]),
    (["65535"], [65535])])
def test_api_server_converts_ports(values: list[str], expected: list[int]) -> None:
    assert convert_ports(values) == expected


@pytest.mark.parametrize(("values", "why"), [
    (["http"], 'parsing "http": invalid syntax'), (["80,"], 'parsing "": invalid syntax'),
    (["65536"], 'parsing "65536": value out of range'), (["-1"], 'parsing "-1": invalid syntax'),
    (["\uff18"], 'parsing "\uff18": invalid syntax')])
def test_api_server_refuses_what_is_not_a_16_bit_number(values: list[str], why: str) -> None:
    with pytest.raises(ValueError) as e:
        convert_ports(values)
    assert str(e.value) == f"cannot convert to []int32: strconv.ParseUint: {why}"


@pytest.mark.parametrize(("values", "message"), [
    ([], 'query parameter "port" is required'),
    ([""], 'query parameter "port" cannot be empty'),
    (["80", "0"], 'port "0" must be > 0'),
    (["80,x"], 'unable to parse "80,x" as a port: strconv.ParseUint: parsing "x": '
               + "invalid syntax")])
def test_kubelet_refuses_a_bad_port_with_its_message(values: list[str], message: str) -> None:
    with pytest.raises(ValueError) as e:
        kubelet_ports(values)
    assert str(e.value) == message


@given(st.lists(st.text(max_size=8), max_size=4))
def test_port_parsing_never_fails_otherwise(values: list[str]) -> None:
    """Any query: ports in range, or ValueError; and what the kubelet takes the api-server
    converts to the same ports."""
    try:
        ports = kubelet_ports(values)
    except ValueError:
        return
    assert all(0 < port < 65536 for port in ports)
    assert convert_ports(values) == ports


class Pod:
    """A TCP server standing in for the pod's port: upper-cases what it reads, and closes
    after "quit" (eof is set if the client's side ended first)."""

    def __init__(self) -> None:
        self.eof = asyncio.Event()
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tail = b""
        while chunk := await reader.read(1 << 16):
            writer.write(chunk.upper())
            await writer.drain()
            tail = (tail + chunk)[-4:]
            if tail == b"quit":
                break
        else:
            self.eof.set()
        writer.close()


@pytest.fixture
async def pod() -> AsyncIterator[Pod]:
    pod = Pod()
    server = await asyncio.start_server(pod.serve, "127.0.0.1", 0)
    pod.port = server.sockets[0].getsockname()[1]
    try:
        yield pod
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def kubelet(monkeypatch: pytest.MonkeyPatch, pod: Pod
                  ) -> AsyncIterator[TestClient[Any, Any]]:
    """portforward_ws.serve with `pod` on the pod's port 8080 and nothing on 9."""
    async def dial(pid: int, port: int) -> socket.socket:
        assert pid == SANDBOX.pid
        if port != 8080:
            raise OSError(f"dial tcp4 127.0.0.1:{port}: connect: connection refused")
        return socket.create_connection(("127.0.0.1", pod.port))
    monkeypatch.setattr(poddial, "dial", dial)

    async def handler(request: web.Request) -> web.StreamResponse:
        ports = [int(p) for p in request.query.getall("port")]
        return await portforward_ws.serve(request, SANDBOX, ports)
    app = web.Application()
    app.router.add_get("/pf", handler)
    async with TestClient(TestServer(app)) as client:
        yield client


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[bytes]:
    """Every binary message until the kubelet closes the WebSocket."""
    return [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.BINARY]


async def test_each_port_gets_a_data_and_an_error_channel_announced_by_its_port(
        kubelet: TestClient[Any, Any]) -> None:
    async with kubelet.ws_connect("/pf?port=8080&port=9",
                                  protocols=["v4.channel.k8s.io"]) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        first = [(await ws.receive_bytes(timeout=5)) for _ in range(4)]
        assert first == [b"\x00\x90\x1f", b"\x01\x90\x1f", b"\x02\x09\x00", b"\x03\x09\x00"]
        await ws.send_bytes(b"\x00hello ")
        await ws.send_bytes(b"\x02ignored: port 9 never connected")
        await ws.send_bytes(b"\x00world")
        got = b""
        while len(got) < len(b"HELLO WORLD"):
            message = await ws.receive_bytes(timeout=5)
            if message[0] == 3:
                error = message[1:].decode()
                continue
            assert message[0] == 0, message
            got += message[1:]
        assert got == b"HELLO WORLD"
        assert error == ("error forwarding port 9 to pod web_default, uid u-1: "
                         "dial tcp4 127.0.0.1:9: connect: connection refused")
        await ws.close()


async def test_the_clients_end_is_an_eof_for_the_pod(kubelet: TestClient[Any, Any],
                                                     pod: Pod) -> None:
    async with kubelet.ws_connect("/pf?port=8080") as ws:
        assert ws.protocol is None  # no subprotocol offered: binary channels all the same
        await ws.send_bytes(b"\x00a")
        assert [await ws.receive_bytes(timeout=5) for _ in range(3)] == [
            b"\x00\x90\x1f", b"\x01\x90\x1f", b"\x00A"]
        assert not pod.eof.is_set()
    await asyncio.wait_for(pod.eof.wait(), 1)  # not when the kubelet gives up on the client


async def test_bytes_arrive_in_order_and_the_pods_end_closes_the_websocket(
        kubelet: TestClient[Any, Any]) -> None:
    blob = bytes(range(256)) * 4096 + b"quit"
    async with kubelet.ws_connect("/pf?port=8080", protocols=["v4.channel.k8s.io"]) as ws:
        for offset in range(0, len(blob), 30000):
            await ws.send_bytes(b"\x00" + blob[offset:offset + 30000])
        messages = await asyncio.wait_for(_until_closed(ws), 10)
    assert messages[:2] == [b"\x00\x90\x1f", b"\x01\x90\x1f"]
    assert {m[0] for m in messages[2:]} == {0}, "no error on the error channel"
    assert b"".join(m[1:] for m in messages[2:]) == blob.upper()
