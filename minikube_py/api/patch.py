"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic
merge patch, chosen by Content-Type as kube-apiserver chooses them.

Malformed patches are 400 BadRequest; a well-formed JSON patch that cannot be
applied (missing path, failed `test`) is 422, as Kubernetes answers.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from minikube_py.api import errors
from minikube_py.api.resources import Resource
from minikube_py.api.strategic import PatchError, ResourceSchema, strategic_merge

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE, STRATEGIC)


def apply_patch(obj: dict[str, Any], patch_body: bytes | str | Any, content_type: str,
                resource: Resource | None) -> dict[str, Any]:
    """The patched copy of `obj`; raises StatusError (400/415/422) and changes nothing."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in SUPPORTED:
        raise errors.unsupported_media_type(list(SUPPORTED) + [APPLY])
    patch = _decode(patch_body)
    try:
        if media == JSON_PATCH:
            result = json_patch(obj, patch)
        elif not isinstance(patch, dict):
            raise PatchError("json: cannot unmarshal patch into Go value of type "
                             "map[string]interface {}")
        elif media == MERGE:
            result = merge_patch(obj, patch)
        else:
            result = strategic_merge(obj, patch, ResourceSchema(resource))
    except PatchError as e:
        if e.code == 422:
            raise errors.StatusError(422, "Invalid", str(e)) from e
        raise errors.bad_request(str(e)) from e
    except RecursionError as e:
        raise errors.bad_request("patch is nested too deeply") from e
    if not isinstance(result, dict):
        raise errors.bad_request("the patch did not produce a JSON object")
    return result


def _decode(body: bytes | str | Any) -> Any:
    if not isinstance(body, (bytes, str)):
        return copy.deepcopy(body)
    try:
        return orjson.loads(body)
    except ValueError as e:
        raise errors.bad_request(f"error decoding patch: {e}") from e


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 over a copy of `doc`: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError(f"invalid JSON patch operation: {op!r}")
        doc = _operation(doc, op)
    return doc


def _operation(doc: Any, op: dict[str, Any]) -> Any:
    name, path = op["op"], op.get("path")
    if not isinstance(path, str):
        raise PatchError(f"operation {name!r} missing 'path'")
    if name in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"operation {name!r} missing 'value'")
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        doc, _ = _remove(doc, path)
        return doc
    if name == "replace":
        doc, _ = _remove(doc, path)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise PatchError(f"operation {name!r} missing 'from'")
        if name == "move":
            if path.startswith(source + "/"):
                raise PatchError(f"move: {source!r} cannot be moved into its own child", 422)
            doc, value = _remove(doc, source)
        else:
            value = copy.deepcopy(_get(doc, source))
        return _add(doc, path, value)
    if name == "test":
        if _get(doc, path) != op["value"]:
            raise PatchError(f"testing value {path} failed: test failed", 422)
        return doc
    raise PatchError(f"Unexpected kind: {name}")


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r} in {path}", 422)
    index = int(token)
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise PatchError(f"array index {index} out of bounds in {path}", 422)
    return index


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise PatchError("the root of the document cannot be the target here", 422)
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, path)
    return node, tokens[-1]


def _child(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f"doc is missing path: {path!r}", 422)
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, path, for_add=False)]
    raise PatchError(f"doc is missing path: {path!r}", 422)


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _tokens(path):
        node = _child(node, token, path)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, token, path, for_add=True), value)
    else:
        raise PatchError(f"doc is missing path: {path!r}", 422)
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parent, token = _parent(doc, path)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f"Unable to remove nonexistent key: {token}: missing value", 422)
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, token, path, for_add=False))
    raise PatchError(f"doc is missing path: {path!r}", 422)
