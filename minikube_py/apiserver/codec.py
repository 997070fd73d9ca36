"""Bytes in, bytes out: request bodies, query parameters and JSON responses.

Bodies may be JSON or YAML (kubectl sends JSON, people send YAML), at most
3 MiB; anything that does not parse to an object is a 400, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml
from aiohttp import web

from minikube_py.api import errors, protobuf

MAX_BODY = errors.MAX_BODY_BYTES
JSON_TYPE = "application/json"
YAML_TYPE = "application/yaml"
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False", ""}


def go_bool(value: str | None, name: str) -> bool:
    """Parse a query boolean as Go's strconv.ParseBool does."""
    if value is None:
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.bad_request(f'invalid boolean value "{value}" for parameter "{name}"')


def query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'invalid value "{value}" for parameter "{name}": '
                                 "must be an integer") from None


async def read_body(request: web.Request) -> bytes:
    """The raw body, refusing more than 3 MiB with 413 before reading it all."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large()
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def decode(data: bytes, content_type: str) -> Any:
    """JSON or YAML into Python values; 400 on anything malformed."""
    if not data.strip():
        raise errors.bad_request("the request body is empty")
    if content_type == protobuf.CONTENT_TYPE:  # kubectl drain's DeleteOptions, for one
        try:
            return protobuf.decode(data)
        except ValueError as e:
            raise errors.unsupported_media_type([JSON_TYPE, YAML_TYPE]) from e
    if "yaml" in content_type:
        if data.lstrip()[:1] == b"{":  # kubectl sends apply patches as JSON, which is YAML
            try:
                return orjson.loads(data)
            except ValueError:
                pass
        try:
            return _from_yaml(data)
        except (yaml.YAMLError, ValueError) as e:
            raise errors.bad_request(f"error decoding YAML: {e}") from None
    try:
        return orjson.loads(data)
    except ValueError as e:
        if content_type in ("", "*/*", "text/plain"):
            try:
                return _from_yaml(data)
            except (yaml.YAMLError, ValueError):
                pass
        raise errors.bad_request(f"error decoding JSON: {e}") from None


def _from_yaml(data: bytes) -> Any:
    """YAML as the JSON it stands for, as kube-apiserver converts it before decoding: keys
    and timestamps become strings, numbers what a JSON decode makes of them. ValueError
    for what JSON cannot say (NaN, a recursive anchor, nesting deeper than 1,024)."""
    try:
        return orjson.loads(json.dumps(yaml.safe_load(data), default=str))
    except RecursionError as e:
        raise ValueError("nested too deeply") from e


async def read_object(request: web.Request) -> dict[str, Any]:
    """A request body that must be a JSON/YAML object (a Kubernetes object or options)."""
    value = decode(await read_body(request), request.content_type)
    if not isinstance(value, dict):
        raise errors.bad_request("the request body must be a JSON object, got "
                                 f"{type(value).__name__}")
    return value


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(value), status=status, content_type=JSON_TYPE)


def status_response(error: errors.StatusError) -> web.Response:
    """A failure's metav1.Status as kube-apiserver writes it: its encoder ends the body
    with a newline."""
    return web.Response(body=orjson.dumps(error.to_status()) + b"\n", status=error.code,
                        content_type=JSON_TYPE)


def raw_json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON_TYPE)
