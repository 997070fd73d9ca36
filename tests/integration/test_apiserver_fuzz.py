"""Property: no input makes the api-server answer 500 (or anything but a Status/object).

Hypothesis throws malformed objects at every write endpoint of every kind:
create, update, every patch type, status, scale and binding.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube_py.api.resources import ALL, Resource
from tests.fixtures.apiserver import ApiServer

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=20))
keys = st.sampled_from(["metadata", "spec", "status", "name", "namespace", "labels",
                        "containers", "ports", "selector", "replicas", "finalizers", "data",
                        "image", "port", "nodePort", "clusterIP", "type", "template",
                        "matchLabels", "generateName", "resourceVersion", "$patch", "op",
                        "path", "value", "kind", "apiVersion", "uid", "nodeName"]) | st.text(
                            max_size=8)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(keys, inner, max_size=5), max_leaves=25)


def objects(resource: Resource) -> st.SearchStrategy[Any]:
    """Mostly object-shaped bodies with a plausible name, sometimes anything at all."""
    shaped = st.fixed_dictionaries(
        {"metadata": st.one_of(st.fixed_dictionaries({"name": st.just("fz")}, optional={
            "labels": json_values, "finalizers": json_values, "namespace": json_values,
            "resourceVersion": json_values}), json_values)},
        optional={"spec": json_values, "status": json_values, "data": json_values,
                  "kind": st.sampled_from([resource.kind, "Bogus"]),
                  "apiVersion": st.sampled_from([resource.api_version, "x/v9"]),
                  "subsets": json_values, "target": json_values})
    return st.one_of(shaped, json_values)


PATCH_TYPES = ["application/merge-patch+json", "application/json-patch+json",
               "application/strategic-merge-patch+json"]


@pytest.fixture(scope="module")
def fuzz_ns(apiserver: ApiServer) -> str:
    name = f"fuzz-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    return name


def _check(status: int, body: Any) -> None:
    assert status < 500, body
    assert isinstance(body, dict) and ("kind" in body or "metadata" in body), body


@pytest.mark.parametrize("resource", ALL, ids=lambda r: r.plural)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_input_causes_a_server_error(apiserver: ApiServer, fuzz_ns: str, resource: Resource,
                                        data: st.DataObject) -> None:
    body = data.draw(objects(resource))
    patch_type = data.draw(st.sampled_from(PATCH_TYPES))
    raw = json.dumps(body).encode()
    _check(*apiserver.request("POST", resource.path(fuzz_ns), raw))
    _check(*apiserver.request("PUT", resource.path(fuzz_ns, "fz"), raw))
    _check(*apiserver.request("PATCH", resource.path(fuzz_ns, "fz"), raw,
                              content_type=patch_type))
    for sub in resource.subresources:
        if sub in ("status", "scale"):
            _check(*apiserver.request("PUT", resource.path(fuzz_ns, "fz", sub), raw))
            _check(*apiserver.request("PATCH", resource.path(fuzz_ns, "fz", sub), raw,
                                      content_type=patch_type))
        elif sub == "binding":
            _check(*apiserver.request("POST", resource.path(fuzz_ns, "fz", sub), raw))
    apiserver.request("DELETE", resource.path(fuzz_ns, "fz") + "?gracePeriodSeconds=0")
