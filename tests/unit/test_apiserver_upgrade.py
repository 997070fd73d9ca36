"""The api-server's upgrade relay: the request it forwards and the answer it reads."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from yarl import URL

from minikube_py.apiserver.upgrade import _parse_head, _request_head


def test_forwarded_request_carries_the_upgrade_and_every_offered_protocol() -> None:
    request = make_mocked_request("POST", "/api/v1/namespaces/d/pods/p/exec", headers=CIMultiDict([
        ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", "v4.channel.k8s.io"),
        ("X-Stream-Protocol-Version", "v3.channel.k8s.io"), ("Authorization", "Bearer user"),
        ("Cookie", "x")]))
    url = URL("https://10.0.0.1:10250/exec/d/p/c").with_query([("command", "sh"),
                                                               ("command", "-c")])
    head = _request_head(request, url).decode()
    lines = head.split("\r\n")
    assert lines[0] == "POST /exec/d/p/c?command=sh&command=-c HTTP/1.1"
    assert head.endswith("\r\n\r\n")
    assert set(lines[1:-2]) == {
        "Host: 10.0.0.1:10250", "Connection: Upgrade", "Content-Length: 0",
        "Upgrade: SPDY/3.1",
        "X-Stream-Protocol-Version: v4.channel.k8s.io",
        "X-Stream-Protocol-Version: v3.channel.k8s.io"}  # the caller's own credentials stay here
    # (the api-server is known to the kubelet by its client certificate)


def test_a_websocket_handshake_is_forwarded_for_the_kubelet_to_answer() -> None:
    """The kubelet computes the accept key and picks the subprotocol; its frames then pass
    untouched."""
    request = make_mocked_request("GET", "/api/v1/namespaces/d/pods/p/exec", headers=CIMultiDict([
        ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "v5.channel.k8s.io, v4.channel.k8s.io"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"), ("Authorization", "Bearer user")]))
    head = _request_head(request, URL("https://10.0.0.1:10250/exec/d/p/c")).decode()
    assert set(head.split("\r\n")[1:-2]) == {
        "Host: 10.0.0.1:10250", "Connection: Upgrade", "Content-Length: 0",
        "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io"}


def test_tunnelled_spdy_is_asked_of_the_kubelet_as_plain_spdy() -> None:
    """kubectl >= 1.31's WebSocket carrying SPDY: the kubelet gets the SPDY upgrade the
    subprotocol names, none of the WebSocket's headers."""
    request = make_mocked_request("GET", "/api/v1/namespaces/d/pods/p/portforward",
                                  headers=CIMultiDict([
                                      ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "k"),
                                      ("Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"),
                                      ("Sec-WebSocket-Version", "13")]))
    head = _request_head(request, URL("https://10.0.0.1:10250/portForward/d/p"),
                         "SPDY/3.1+portforward.k8s.io").decode()
    assert set(head.split("\r\n")[1:-2]) == {
        "Host: 10.0.0.1:10250", "Connection: Upgrade", "Content-Length: 0",
        "Upgrade: SPDY/3.1", "X-Stream-Protocol-Version: portforward.k8s.io"}


def test_answer_head_is_parsed() -> None:
    status, headers = _parse_head(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                  b"X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n")
    assert status == 101
    assert headers == [("Connection", "Upgrade"),
                       ("X-Stream-Protocol-Version", "v4.channel.k8s.io")]


@pytest.mark.parametrize("head", [b"garbage\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"\r\n\r\n"])
def test_bad_answer_head_is_refused(head: bytes) -> None:
    with pytest.raises(ValueError, match="bad status line"):
        _parse_head(head)
