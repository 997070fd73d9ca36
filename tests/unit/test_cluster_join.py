"""`join`'s first step, fetching the pinned CA: an api-server that does not answer is one
readable reason."""

from __future__ import annotations

import asyncio
import socket

import pytest

from minikube_py.cluster.join import JoinError, fetch_ca


def test_a_refused_connection_says_so_plainly() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(JoinError) as caught:
        asyncio.run(fetch_ca(f"https://127.0.0.1:{port}", "0" * 64, timeout=5))
    assert str(caught.value).startswith(f"cannot reach https://127.0.0.1:{port}: [Errno 111]")
    assert "SSLContext" not in str(caught.value)
