"""managedFields and server-side apply on our kinds: FieldsV1, manager identities,
conflict messages, the reset fields of status writes, and a hypothesis run of two
managers applying and updating random objects."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube_py.api import errors
from minikube_py.api.fieldpath import FieldSet, field, key, path_string, value
from minikube_py.api.resources import CONFIGMAPS, DEPLOYMENTS, PODS, SERVICES, Resource
from minikube_py.apiserver import fieldmanager
from minikube_py.apiserver.fieldmanager import Writer, apply_config, decode, track_update
from tests.fixtures.strategies import objects

FIELDS_V1 = {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
             "f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}},
                                         'k:{"name":"d","x":1}': {}},
                        "f:finalizers": {'v:"a"': {}}, "f:args": {"i:0": {}}}}


def deployment(replicas: int = 2, image: str = "busybox") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}}, "spec": {
                         "containers": [{"name": "c", "image": image}]}}}}


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{e['manager']}/{e['operation']}": e["fieldsV1"]
            for e in obj["metadata"].get("managedFields", [])}


def test_fields_v1_round_trips_and_prints_paths() -> None:
    fields = FieldSet.from_fields_v1(FIELDS_V1)
    assert fields.to_fields_v1() == FIELDS_V1
    assert fields.has((field("spec"), field("containers"), key({"name": "c"})))
    assert fields.has((field("spec"), field("finalizers"), value("a")))
    assert [path_string(p) for p in fields.paths()][:2] == [
        ".metadata.labels", ".metadata.labels.app"]
    assert path_string((field("spec"), field("containers"), key({"name": "c", "port": 80}),
                        field("image"))) == '.spec.containers[name="c",port=80].image'


@pytest.mark.parametrize("bad", [
    pytest.param({"x:y": {}}, id="unknown-prefix"),
    pytest.param({"k:[1]": {}}, id="key-not-object"),
    pytest.param({"f:a": []}, id="child-not-object"),
    pytest.param({"i:x": {}}, id="index-not-number"),
    pytest.param([], id="not-object"),
])
def test_bad_fields_v1_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1(bad)


def test_manager_identity_and_user_agent_prefix() -> None:
    assert fieldmanager.identifier("kubectl", "Apply", "apps/v1", None) == \
        '{"manager":"kubectl","operation":"Apply"}'
    ident = fieldmanager.identifier("ctl", "Update", "apps/v1", "status")
    assert fieldmanager.printed(ident) == '"ctl" with subresource "status" using apps/v1'
    assert fieldmanager.user_agent_prefix("kubectl/v1.32.4 (linux/amd64) kubernetes/abc") == \
        "kubectl"
    assert fieldmanager.user_agent_prefix("a\x00b/1") == "ab"
    assert len(fieldmanager.user_agent_prefix("x" * 300)) == 128
    with pytest.raises(errors.StatusError) as e:
        fieldmanager.writer("x" * 129, "", None, kind="CreateOptions")
    assert e.value.code == 422 and e.value.message.startswith(
        'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long')


def test_conflicts_name_every_manager_and_field() -> None:
    live = apply_config(DEPLOYMENTS, Writer("a"), None, deployment(), force=False)
    assert live is not None
    changed = copy.deepcopy(live)
    changed["spec"]["replicas"] = 5
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    track_update(DEPLOYMENTS, Writer("ctl"), live, changed)
    with pytest.raises(errors.StatusError) as e:
        apply_config(DEPLOYMENTS, Writer("a"), changed, deployment(3, "mine"), force=False)
    assert e.value.code == 409
    assert e.value.message == (
        'Apply failed with 2 conflicts: conflicts with "ctl" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="c"].image')
    assert e.value.details == {"causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "ctl" using apps/v1',
         "field": ".spec.replicas"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "ctl" using apps/v1',
         "field": '.spec.template.spec.containers[name="c"].image'}]}
    forced = apply_config(DEPLOYMENTS, Writer("a"), changed, deployment(3, "mine"),
                          force=True)
    assert forced is not None and forced["spec"]["replicas"] == 3
    assert "ctl/Update" not in owners(forced)


def test_update_managers_merge_and_are_capped() -> None:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c"}, "data": {}}
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        track_update(CONFIGMAPS, Writer(f"m{i}"), obj, new)
        obj = new
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names
    assert "m0" not in names and "m11" in names


def test_status_writes_own_only_status_and_main_writes_not_status() -> None:
    live: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "d"}, "spec": {"replicas": 1}}
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 2
    new["status"] = {"replicas": 2}
    track_update(DEPLOYMENTS, Writer("main"), live, new)
    assert owners(new) == {"main/Update": {"f:spec": {"f:replicas": {}}}}
    status_write = copy.deepcopy(new)
    status_write["status"]["replicas"] = 3
    track_update(DEPLOYMENTS, Writer("kcm", "status"), new, status_write)
    entry = next(e for e in status_write["metadata"]["managedFields"] if e["manager"] == "kcm")
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}


def test_client_managed_fields_are_kept_or_reset_and_garbage_is_dropped() -> None:
    live = apply_config(CONFIGMAPS, Writer("a"), None, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "data": {"x": "1"}}, force=False)
    assert live is not None
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    track_update(CONFIGMAPS, Writer("b"), live, new)  # undecodable: the live ones stay
    assert set(owners(new)) == {"a/Apply"}
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [{}]
    track_update(CONFIGMAPS, Writer("b"), live, new)
    assert "managedFields" not in new["metadata"]


def test_services_ports_are_keyed_by_port_and_protocol() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}]}}
    applied = apply_config(SERVICES, Writer("a"), None, svc, force=False)
    assert applied is not None
    assert set(owners(applied)["a/Apply"]["f:spec"]["f:ports"]) == {
        'k:{"port":80,"protocol":"TCP"}', 'k:{"port":80,"protocol":"UDP"}'}


FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _as_config(resource: Resource, body: Any) -> dict[str, Any]:
    config = body if isinstance(body, dict) else {}
    config["apiVersion"], config["kind"] = resource.api_version, resource.kind
    meta = config.get("metadata")
    config["metadata"] = {**(meta if isinstance(meta, dict) else {}), "name": "x"}
    config["metadata"].pop("managedFields", None)
    return config


@FUZZ
@given(data=st.data(), resource=st.sampled_from([DEPLOYMENTS, PODS, CONFIGMAPS, SERVICES]))
def test_two_managers_never_crash_and_managed_fields_parse(data: st.DataObject,
                                                           resource: Resource) -> None:
    live: dict[str, Any] | None = None
    for step in range(3):
        config = _as_config(resource, data.draw(objects(resource)))
        manager = Writer("one" if step % 2 == 0 else "two")
        try:
            result = apply_config(resource, manager, live, config, force=step == 2)
        except errors.StatusError as e:
            assert e.code in (400, 409, 422), e
            continue
        if result is not None:
            live = result
        assert live is not None
        decode(live["metadata"].get("managedFields"))
        json.dumps(live)
        updated = copy.deepcopy(live)
        updated.setdefault("metadata", {})["labels"] = {"step": str(step)}
        track_update(resource, Writer("updater"), live, updated)
        decode(updated["metadata"].get("managedFields"))
        live = updated
