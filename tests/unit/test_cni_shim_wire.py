"""The shim's config scan and the service's request parsing (the wire between them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni_plugins import shim
from cni_plugins.install import render
from cni_plugins.service import parse_request


@pytest.mark.parametrize("conf,expected", [
    pytest.param({"name": "n"}, b"/run/minikube-py/cni.sock", id="default"),
    pytest.param({"socket": "/run/x/cni.sock"}, b"/run/x/cni.sock", id="plain"),
    pytest.param({"name": "socket", "socket": "/a.sock"}, b"/a.sock", id="word-as-value-first"),
    pytest.param({"prevResult": {"interfaces": [{"socketPath": "/no"}]}},
                 b"/run/minikube-py/cni.sock", id="socketPath-is-not-socket"),
    pytest.param({"socket": "/we\\ird"}, None, id="escaped-falls-back"),
])
def test_socket_path_without_json(conf: dict[str, Any], expected: bytes | None) -> None:
    assert shim.socket_path(json.dumps(conf).encode()) == expected


def test_socket_path_tolerates_whitespace() -> None:
    assert shim.socket_path(b'{ "socket" :\n  "/s.sock" }') == b"/s.sock"


def test_request_round_trip() -> None:
    raw = b"4026531840\0CNI_COMMAND=ADD\0CNI_ARGS=A=1;B=2\0HOME=/x\0\0" + b'{"a": "\\u0000"}'
    ino, env, stdin = parse_request(raw)
    assert ino == 4026531840
    assert env == {"CNI_COMMAND": "ADD", "CNI_ARGS": "A=1;B=2"}
    assert stdin == b'{"a": "\\u0000"}'


def test_request_without_terminator_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_request(b"1\0CNI_COMMAND=ADD")


def test_rendered_executable_has_fast_shebang_and_fallback() -> None:
    text = render(python="/venv/bin/python")
    assert text.startswith("#!/usr/bin/python3 -IS\n")
    assert "FALLBACK = ['/venv/bin/python', '-m', 'cni_plugins']" in text
    compile(text, "mkp-bridge", "exec")
