"""The official `kubernetes` Python client works unchanged through D/admin.conf."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import cast

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from tests.fixtures.apiserver import ApiServer


@pytest.fixture
def api(apiserver: ApiServer) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]  # untyped library
        config_file=str(apiserver.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def _deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(
                    name="web", image="busybox:1.36", ports=[client.V1ContainerPort(
                        container_port=80)])]))))


def test_deployment_lifecycle(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    name = f"web-{uuid.uuid4().hex[:6]}"
    created = apps.create_namespaced_deployment("default", _deployment(name))
    assert created.metadata and created.spec and created.spec.strategy  # the models' Optionals
    assert created.metadata.uid and created.spec.strategy.type == "RollingUpdate"
    listed = apps.list_namespaced_deployment("default", label_selector=None)
    assert name in [d.metadata.name for d in listed.items if d.metadata]

    w = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
    stream = w.stream(  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
        apps.list_namespaced_deployment, "default", field_selector=f"metadata.name={name}",
        timeout_seconds=10)
    first = next(stream)
    assert first["type"] == "ADDED" and first["object"].metadata.name == name

    patched = apps.patch_namespaced_deployment(
        name, "default", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "busybox:1.37"}]}}}})
    assert patched.spec and patched.spec.template.spec and patched.metadata
    containers = patched.spec.template.spec.containers
    assert containers[0].image == "busybox:1.37"
    assert containers[0].ports and containers[0].ports[0].container_port == 80
    assert patched.metadata.generation == 2
    modified = next(stream)
    assert modified["type"] == "MODIFIED"
    w.stop()  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
    stream.close()  # releases the connection now, not at garbage collection

    scale = apps.read_namespaced_deployment_scale(name, "default")
    assert scale.spec and scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale(name, "default", {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment(name, "default").spec.replicas == 3
    scale = apps.read_namespaced_deployment_scale(name, "default")
    assert scale.spec
    scale.spec.replicas = 2
    replaced = apps.replace_namespaced_deployment_scale(name, "default", scale)
    assert replaced.spec and replaced.spec.replicas == 2

    apps.delete_namespaced_deployment(name, "default")
    with pytest.raises(ApiException) as e:
        apps.read_namespaced_deployment(name, "default")
    assert e.value.status == 404


def test_service_lifecycle(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    name = f"svc-{uuid.uuid4().hex[:6]}"
    svc = client.V1Service(metadata=client.V1ObjectMeta(name=name), spec=client.V1ServiceSpec(
        type="NodePort", selector={"app": name},
        ports=[client.V1ServicePort(port=80, target_port=8080)]))
    created = core.create_namespaced_service("default", svc)
    assert created.spec and created.spec.cluster_ip and created.spec.ports
    assert created.spec.cluster_ip.startswith("10.")
    assert 30000 <= (created.spec.ports[0].node_port or 0) <= 32767
    assert name in [s.metadata.name for s in core.list_service_for_all_namespaces().items
                    if s.metadata]
    patched = core.patch_namespaced_service(name, "default",
                                            {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata and patched.spec
    assert patched.metadata.labels == {"tier": "front"}
    assert patched.spec.cluster_ip == created.spec.cluster_ip
    core.delete_namespaced_service(name, "default")
    assert name not in [s.metadata.name for s in core.list_namespaced_service("default").items
                        if s.metadata]


def test_configmap_lifecycle(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    name = f"cm-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels={"t": name}), data={"a": "1"}))
    items = core.list_namespaced_config_map("default", label_selector=f"t={name}").items
    assert [c.data for c in items] == [{"a": "1"}]
    core.patch_namespaced_config_map(name, "default", {"data": {"b": "2"}})
    assert core.read_namespaced_config_map(name, "default").data == {"a": "1", "b": "2"}
    w = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
    events = [e["type"] for e in w.stream(  # type: ignore[no-untyped-call]  # untyped library
        core.list_namespaced_config_map, "default", label_selector=f"t={name}",
        timeout_seconds=1)]
    assert events == ["ADDED"]
    core.delete_namespaced_config_map(name, "default")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map(name, "default")
    assert e.value.status == 404


def _raw_watch(api: client.ApiClient, timeout: int) -> bytes:
    """A configmap watch read to its end through urllib3, which raises ProtocolError
    ('Response ended prematurely') unless the server ends the chunked body properly."""
    response = cast(urllib3.HTTPResponse, client.CoreV1Api(api).list_namespaced_config_map(
        "default", watch=True, timeout_seconds=timeout, _preload_content=False))
    try:
        return b"".join(response.stream(1024))
    finally:
        response.release_conn()


def test_watch_timeout_ends_the_chunked_body_cleanly(api: client.ApiClient) -> None:
    started = time.monotonic()
    _raw_watch(api, 1)
    assert time.monotonic() - started < 10


def _open_watches(server: ApiServer) -> int:
    """The api-server's apiserver_registered_watchers gauge."""
    _, text = server.request("GET", "/metrics")
    found = re.search(r"^apiserver_registered_watchers (\d+)$", str(text), re.MULTILINE)
    return int(found.group(1)) if found else 0


def test_watch_ends_cleanly_when_the_server_shuts_down(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory()
    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]  # untyped library
        config_file=str(server.kubeconfig))
    outcome: dict[str, object] = {}

    def watch_until_end() -> None:
        try:
            outcome["body"] = _raw_watch(api_client, 120)
        except Exception as e:  # noqa: BLE001 - the assertion below reports it
            outcome["error"] = e
    reader = threading.Thread(target=watch_until_end)
    try:
        reader.start()
        # Stop the server once the watch is open, however long the client takes to connect
        # (a fixed sleep lost that race under load: "connection refused").
        deadline = time.monotonic() + 30
        while _open_watches(server) < 1:
            assert time.monotonic() < deadline, "the watch never reached the api-server"
            time.sleep(0.1)
        server.stop()
        reader.join(30)
        assert "error" not in outcome and "body" in outcome
    finally:
        server.stop()
        reader.join(30)
        api_client.close()


def test_dynamic_client_server_side_apply_conflict_and_force(api: client.ApiClient) -> None:
    """The client suite's server-side apply: the dynamic client discovers the kind, applies
    as two managers, sees kube-apiserver's 409 body and forces."""
    dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]  # kubernetes.dynamic is untyped
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    name = f"ssa-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": "a"}}
    try:
        applied = configmaps.server_side_apply(body=body, namespace="default",
                                               field_manager="py-a")
        assert applied.data.k == "a"
        assert [e.manager for e in applied.metadata.managedFields] == ["py-a"]
        other = {**body, "data": {"k": "b"}}
        with pytest.raises(ApiException) as clash:
            configmaps.server_side_apply(body=other, namespace="default", field_manager="py-b")
        assert clash.value.status == 409
        assert json.loads(clash.value.body or "{}")["message"] == (
            'Apply failed with 1 conflict: conflict with "py-a": .data.k')
        forced = configmaps.server_side_apply(body=other, namespace="default",
                                              field_manager="py-b", force_conflicts=True)
        assert forced.data.k == "b"
        assert {e.manager for e in forced.metadata.managedFields} == {"py-b"}
    finally:
        with contextlib.suppress(ApiException):
            configmaps.delete(name=name, namespace="default")


def test_new_workloads_read_back_with_their_required_status_counters(
        api: client.ApiClient) -> None:
    """Go always writes the int32 status counters without omitempty; the client's models
    refuse an object without them (its create_from_yaml tests failed on a new RC)."""
    name = f"rq-{uuid.uuid4().hex[:6]}"
    template = _deployment(name).spec.template
    selector = {"app": name}
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    try:
        rc = core.create_namespaced_replication_controller("default", client.V1ReplicationController(
            metadata=client.V1ObjectMeta(name=name), spec=client.V1ReplicationControllerSpec(
                replicas=0, selector=selector, template=template)))
        assert rc.status and rc.status.replicas == 0
        rs = apps.create_namespaced_replica_set("default", client.V1ReplicaSet(
            metadata=client.V1ObjectMeta(name=name), spec=client.V1ReplicaSetSpec(
                replicas=0, selector=client.V1LabelSelector(match_labels=selector),
                template=template)))
        assert rs.status and rs.status.replicas == 0
        sts = apps.create_namespaced_stateful_set("default", client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name=name), spec=client.V1StatefulSetSpec(
                replicas=0, service_name=name, template=template,
                selector=client.V1LabelSelector(match_labels=selector))))
        assert sts.status and (sts.status.replicas, sts.status.available_replicas) == (0, 0)
        ds = apps.create_namespaced_daemon_set("default", client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name=name), spec=client.V1DaemonSetSpec(
                template=template, selector=client.V1LabelSelector(match_labels=selector))))
        assert ds.status and ds.status.desired_number_scheduled == 0
        assert ds.status.number_ready == 0
        assert [r.metadata.name if r.metadata else None for r in apps.list_namespaced_daemon_set(
            "default", field_selector=f"metadata.name={name}").items] == [name]
    finally:
        for delete in (core.delete_namespaced_replication_controller,
                       apps.delete_namespaced_replica_set, apps.delete_namespaced_stateful_set,
                       apps.delete_namespaced_daemon_set):
            with contextlib.suppress(ApiException):
                delete(name, "default")
