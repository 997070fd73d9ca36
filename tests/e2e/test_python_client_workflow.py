"""Issue 8's daily workflow through the official `kubernetes` Python client, on a real node.

The same steps as the kubectl suite (tests/e2e/test_kubectl_workflow.py) but with no
kubectl at all, so it runs wherever the cluster can: create Namespace + ConfigMap +
Deployment + Service, list with selectors, watch, the client's SharedInformer, patch, scale,
restart, logs, exec, attach and port-forward over the WebSocket channel protocol (remote
exit code; a failed port's error), cordon, delete and wait until gone.
One private cluster (tests/e2e/kubectl_cluster.py) for the module. Every test passes alone
and in any order: `apis` holds the app rolled out, for the tests that only read it or put
back what they change; a test that changes the app for good gets its own namespace (`fresh`).
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, stream, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.informer import ADDED, DELETED, ERROR, SharedInformer

from tests import pyclient_portforward
from tests.e2e.cluster_support import eventually, needs_root
from tests.e2e.kubectl_cluster import KubeCluster, private_cluster

pytestmark = [pytest.mark.root, pytest.mark.docker, needs_root, pytest.mark.timeout(300)]

IMAGE = "minikube-py/busybox:1"
TICKER = "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"


class Apis:
    """The typed APIs over one ApiClient, and the namespace the workflow runs in."""

    def __init__(self, api: client.ApiClient, ns: str, cluster: KubeCluster) -> None:
        self.api, self.ns, self.cluster = api, ns, cluster
        # Any: the client types every model field Optional, which would bury each check here
        # under None guards; a None where we expect a value fails the test anyway.
        self.core: Any = client.CoreV1Api(api)
        self.apps: Any = client.AppsV1Api(api)

    def pods(self) -> list[Any]:
        """The app's pods that are not being deleted (Any: the client types every field
        Optional)."""
        return [p for p in self.core.list_namespaced_pod(self.ns, label_selector="app=web").items
                if p.metadata.deletion_timestamp is None]

    def rolled_out(self, replicas: int) -> Any:
        def done() -> Any:
            d = self.apps.read_namespaced_deployment("web", self.ns)
            s = d.status
            pods = self.pods()
            # The pods too: a deleted pod changes no generation, so the status may still
            # count the old one while its replacement waits unscheduled.
            ok = (s.observed_generation == d.metadata.generation
                  and s.updated_replicas == replicas and s.available_replicas == replicas
                  and (s.replicas or 0) == replicas and len(pods) == replicas
                  and all(p.spec.node_name and any(c.type == "Ready" and c.status == "True"
                                                   for c in p.status.conditions or [])
                          for p in pods))
            return d if ok else None
        return eventually(done, 90, f"deployment web at {replicas} replicas", interval=0.5)


def deployment(ns: str) -> client.V1Deployment:
    labels = {"app": "web"}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", namespace=ns, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(termination_grace_period_seconds=1, containers=[
                    client.V1Container(name="main", image=IMAGE, command=["sh", "-c", TICKER],
                                       env=[client.V1EnvVar(name="MODE", value="one"),
                                            client.V1EnvVar(name="EXTRA", value="two")]),
                    client.V1Container(name="side", image=IMAGE, command=[
                        "sh", "-c", "echo side-up; exec sleep 100000"])]))))


def create_app(apis: Apis) -> tuple[Any, Any]:
    """Namespace, ConfigMap, Deployment (2 replicas) and Service: (deployment, service)."""
    ns = apis.ns
    apis.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    apis.core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="web-config"), data={"greeting": "hello"}))
    created = apis.apps.create_namespaced_deployment(ns, deployment(ns))
    svc = apis.core.create_namespaced_service(ns, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[
            client.V1ServicePort(name="http", port=80, target_port=8080)])))
    return created, svc


def delete_namespace(apis: Apis) -> None:
    with contextlib.suppress(ApiException):
        apis.core.delete_namespace(apis.ns)


@pytest.fixture(scope="module")
def cluster_api(dockerd: None, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[client.ApiClient, KubeCluster]]:
    """On the session's dockerd (as the e2e tier does), so `up` never owns and stops it."""
    with private_cluster(tmp_path_factory.mktemp("pyclient")) as cluster:
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]  # untyped library
            config_file=str(cluster.kubeconfig))
        try:
            yield api, cluster
        finally:
            api.close()
            api.rest_client.pool_manager.clear()  # close() leaves pooled sockets open


@pytest.fixture(scope="module")
def apis(cluster_api: tuple[client.ApiClient, KubeCluster]) -> Iterator[Apis]:
    """The app rolled out (2 ready pods) in a namespace of the module, for the tests that
    only read it or put back what they change."""
    a = Apis(cluster_api[0], f"py-{uuid.uuid4().hex[:6]}", cluster_api[1])
    try:
        create_app(a)
        a.rolled_out(2)
        yield a
    finally:
        delete_namespace(a)


@pytest.fixture
def fresh(cluster_api: tuple[client.ApiClient, KubeCluster]) -> Iterator[Apis]:
    """A namespace name of the test's own (not created yet), deleted after it."""
    a = Apis(cluster_api[0], f"py-{uuid.uuid4().hex[:6]}", cluster_api[1])
    try:
        yield a
    finally:
        delete_namespace(a)


def test_create_the_app(fresh: Apis) -> None:
    apis, ns = fresh, fresh.ns
    created, svc = create_app(apis)
    assert created.metadata.generation == 1 and created.spec.strategy.type == "RollingUpdate"
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", svc.spec.cluster_ip)
    with pytest.raises(ApiException) as again:
        apis.core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="web-config")))
    assert again.value.status == 409
    apis.rolled_out(2)


def test_lists_with_selectors_and_across_namespaces(apis: Apis) -> None:
    pods = apis.pods()
    assert len(pods) == 2
    assert {p.status.phase for p in pods} == {"Running"}
    assert {p.spec.node_name for p in pods} == {apis.cluster.node}
    assert all(len(p.status.container_statuses) == 2 and all(
        c.ready for c in p.status.container_statuses) for p in pods)
    everywhere = apis.core.list_pod_for_all_namespaces(label_selector="app=web").items
    assert {p.metadata.name for p in pods} <= {p.metadata.name for p in everywhere}
    on_node = apis.core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={apis.cluster.node}").items
    assert {p.metadata.name for p in pods} <= {p.metadata.name for p in on_node}
    endpoints = apis.core.read_namespaced_endpoints("web", apis.ns)
    addresses = {a.ip for s in endpoints.subsets for a in s.addresses}
    assert addresses == {p.status.pod_ip for p in pods}
    assert [n.metadata.name for n in apis.core.list_node().items] == [apis.cluster.node]
    events = apis.core.list_namespaced_event(
        apis.ns, field_selector=f"involvedObject.name={pods[0].metadata.name}").items
    assert {"Scheduled", "Started"} <= {e.reason for e in events}


def test_patch_changes_exactly_the_fields_and_watch_sees_it(fresh: Apis) -> None:
    apis = fresh
    create_app(apis)
    w = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
    events = w.stream(  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
        apis.apps.list_namespaced_deployment, apis.ns, field_selector="metadata.name=web",
        timeout_seconds=30)
    try:
        assert next(events)["type"] == "ADDED"
        # Read-modify-write retried on 409, as client-go's RetryOnConflict: the deployment
        # controller writes the new object (revision annotation, status) meanwhile.
        for _ in range(20):
            current = apis.apps.read_namespaced_deployment("web", apis.ns)
            main = current.spec.template.spec.containers[0]
            main.env = [e for e in main.env if e.name != "EXTRA"]
            current.spec.replicas = 3
            try:
                replaced = apis.apps.replace_namespaced_deployment("web", apis.ns, current)
                break
            except ApiException as e:
                if e.status != 409:
                    raise
        else:
            raise AssertionError("replace conflicted 20 times")
        assert replaced.metadata.generation == 2
        assert [e.name for e in replaced.spec.template.spec.containers[0].env] == ["MODE"]
        assert replaced.spec.template.spec.containers[1].command[-1].startswith("echo side-up")
        # The watch started before the deployment controller's first writes (revision
        # annotation, status), so MODIFIED events at replicas 2 may come first: wait for the
        # one of our write (its resourceVersion), which must carry replicas 3.
        wanted = replaced.metadata.resource_version
        before: list[tuple[str, str, int]] = []
        for seen in events:
            obj = seen["object"]
            if obj.metadata.resource_version == wanted:
                assert seen["type"] == "MODIFIED" and obj.spec.replicas == 3, (seen, before)
                break
            before.append((seen["type"], obj.metadata.resource_version, obj.spec.replicas))
            assert seen["type"] == "MODIFIED" and obj.spec.replicas == 2, before
        else:
            raise AssertionError(f"watch ended without our MODIFIED; saw {before}")
    finally:
        w.stop()  # type: ignore[no-untyped-call]  # kubernetes.watch is untyped
        events.close()
    apis.rolled_out(3)
    stale = current
    stale.spec.replicas = 1  # written from the old resourceVersion: 409, nothing changed
    with pytest.raises(ApiException) as conflict:
        apis.apps.replace_namespaced_deployment("web", apis.ns, stale)
    assert conflict.value.status == 409
    assert apis.apps.read_namespaced_deployment("web", apis.ns).spec.replicas == 3


def test_scale_subresource_and_restart(fresh: Apis) -> None:
    apis = fresh
    create_app(apis)
    scale = apis.apps.patch_namespaced_deployment_scale("web", apis.ns, {"spec": {"replicas": 1}})
    assert scale.spec.replicas == 1 and scale.kind == "Scale"
    apis.rolled_out(1)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    apis.apps.patch_namespaced_deployment("web", apis.ns, {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}})
    rolled = apis.rolled_out(1)
    assert rolled.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    sets = apis.apps.list_namespaced_replica_set(apis.ns, label_selector="app=web").items
    assert sorted((r.spec.replicas or 0) for r in sets) == [0, 1]


def test_logs_tail_timestamps_and_follow(apis: Apis) -> None:
    pod = apis.pods()[0].metadata.name
    eventually(lambda: "tick 1" in apis.core.read_namespaced_pod_log(pod, apis.ns,
                                                                      container="main"),
               20, "two ticks logged", interval=0.5)
    assert apis.core.read_namespaced_pod_log(pod, apis.ns, container="side") == "side-up\n"
    tail = apis.core.read_namespaced_pod_log(pod, apis.ns, container="main", tail_lines=1,
                                             timestamps=True)
    assert re.fullmatch(r"\S+Z tick \d+\n", tail), tail
    with pytest.raises(ApiException) as missing:
        apis.core.read_namespaced_pod_log(pod, apis.ns, container="nope")
    assert missing.value.status in (400, 404)
    followed: Any = apis.core.read_namespaced_pod_log(pod, apis.ns, container="main", follow=True,
                                                 tail_lines=1, _preload_content=False)
    try:
        ticks: list[int] = []
        for line in followed.stream(amt=64):
            ticks += [int(n) for n in re.findall(rb"tick (\d+)", line)]
            if len(ticks) >= 3:
                break
        assert ticks[-1] >= ticks[0] + 2
    finally:
        followed.close()  # mid-stream: the connection cannot go back to the pool
        followed.release_conn()


def close(ws: Any) -> None:
    """websocket-client's close() does nothing once the server closed first (an exec that
    ended): shut the socket down too, or it lingers until garbage collection."""
    ws.close()
    if ws.sock is not None:
        ws.sock.shutdown()


def test_exec_returns_output_and_exit_code(apis: Apis) -> None:
    pod = apis.pods()[0].metadata.name
    resp = stream.stream(apis.core.connect_get_namespaced_pod_exec, pod, apis.ns,
                         container="main", command=["sh", "-c", "read x; echo got-$x; exit 7"],
                         stdin=True, stdout=True, stderr=True, tty=False,
                         _preload_content=False)
    try:
        resp.write_stdin("hello\n")
        out = ""
        deadline = time.monotonic() + 20
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
            out += resp.read_stdout(timeout=0)  # never block: the deadline above rules
        assert out == "got-hello\n"
        assert resp.returncode == 7
    finally:
        close(resp)
    whole = stream.stream(apis.core.connect_get_namespaced_pod_exec, pod, apis.ns,
                          container="side", command=["cat", "/proc/1/cmdline"],
                          stderr=True, stdin=False, stdout=True, tty=False,
                          _preload_content=False)  # preloading never closes the socket
    try:
        whole.run_forever(timeout=20)
        assert whole.read_stdout(timeout=0).startswith("sleep")
        assert whole.returncode == 0
    finally:
        close(whole)


def test_attach_to_a_containers_main_process(apis: Apis) -> None:
    """pods/attach over the WebSocket channels: stdin reaches the main process, its
    output comes back (the pod is removed at the end)."""
    name = f"att-{uuid.uuid4().hex[:6]}"
    apis.core.create_namespaced_pod(apis.ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(termination_grace_period_seconds=0, containers=[
            client.V1Container(name="echo", image=IMAGE, stdin=True, command=[
                "sh", "-c", "while read l; do echo got-$l; done"])])))
    try:
        eventually(lambda: apis.core.read_namespaced_pod(name, apis.ns).status.phase
                   == "Running", 30, f"pod {name} Running", interval=0.2)
        resp = stream.stream(apis.core.connect_get_namespaced_pod_attach, name, apis.ns,
                             container="echo", stdin=True, stdout=True, stderr=False,
                             tty=False, _preload_content=False)
        try:
            resp.write_stdin("hello\n")
            out = ""
            deadline = time.monotonic() + 20
            while "got-hello" not in out and resp.is_open() and time.monotonic() < deadline:
                resp.update(timeout=1)
                out += resp.read_stdout(timeout=0)
            assert out == "got-hello\n"
        finally:
            close(resp)
    finally:
        apis.core.delete_namespaced_pod(name, apis.ns, grace_period_seconds=0)


def test_shared_informer_follows_scale_and_deletion(fresh: Apis) -> None:
    """The client's SharedInformer: list, then watch from the list's resourceVersion,
    resumed each time timeoutSeconds ends the stream (resync every 2 s); its cache
    follows a scale-up and a deleted pod, and it fires no ERROR meanwhile (a watch body
    that does not end cleanly is one: urllib3's 'Response ended prematurely')."""
    apis = fresh
    create_app(apis)
    apis.rolled_out(2)
    informer: Any = SharedInformer(  # type: ignore[no-untyped-call]  # untyped library
        apis.core.list_namespaced_pod, namespace=apis.ns, label_selector="app=web",
        resync_period=2)
    errors: list[Any] = []
    added: list[str] = []
    deleted: list[str] = []
    informer.add_event_handler(ERROR, errors.append)
    informer.add_event_handler(ADDED, lambda p: added.append(p.metadata.name))
    informer.add_event_handler(DELETED, lambda p: deleted.append(p.metadata.name))

    def in_step(count: int) -> set[str] | None:
        cached = {p.metadata.name for p in informer.cache.list()}
        listed = {p.metadata.name for p in apis.pods()}
        return cached if cached == listed and len(cached) == count else None
    informer.start()
    try:
        eventually(lambda: in_step(2), 20, "cache = the 2 pods", interval=0.2)
        apis.apps.patch_namespaced_deployment_scale("web", apis.ns, {"spec": {"replicas": 3}})
        apis.rolled_out(3)
        pods = eventually(lambda: in_step(3), 20, "cache = the 3 pods", interval=0.2)
        victim = min(pods)
        apis.core.delete_namespaced_pod(victim, apis.ns, grace_period_seconds=0)
        eventually(lambda: victim in deleted and victim not in {
            p.metadata.name for p in informer.cache.list()}, 20, f"{victim} DELETED",
            interval=0.2)
        apis.rolled_out(3)
        eventually(lambda: in_step(3), 20, "cache = 3 pods again", interval=0.2)
        assert errors == []  # before stop(): it shuts the socket under the open watch
    finally:
        informer.stop()
    assert pods <= set(added)


def test_port_forward_over_websocket_reaches_the_pod(apis: Apis) -> None:
    """The client's portforward (WebSocket channels through the api-server to the pod's
    kubelet): a one-shot listener's greeting on one port, the kubelet's error for port 9
    where nothing listens."""
    pod = apis.pods()[0].metadata.name
    port = 20000 + uuid.uuid4().int % 10000  # a listener a failed run left cannot answer
    script = (f"echo pf-$HOSTNAME | nc -l -p {port} >/dev/null 2>&1 & "
              f"until netstat -ltn | grep -q ':{port} '; do sleep 0.1; done")
    listen = stream.stream(apis.core.connect_get_namespaced_pod_exec, pod, apis.ns,
                           container="side", command=["sh", "-c", script], stdin=False,
                           stdout=True, stderr=True, tty=False, _preload_content=False)
    try:
        listen.run_forever(timeout=20)
        assert listen.returncode == 0, listen.read_stderr(timeout=0)
    finally:
        close(listen)
    got, error = pyclient_portforward.exchange(apis.core, pod, apis.ns, port, 9, b"")
    assert got == f"pf-{pod}\n".encode()
    assert error is not None and error.startswith(
        f"error forwarding port 9 to pod {pod}_{apis.ns}, uid "), error


def test_cordon_then_deleted_pods_wait_unscheduled(apis: Apis) -> None:
    node = apis.cluster.node
    apis.core.patch_node(node, {"spec": {"unschedulable": True}})
    try:
        victim = apis.pods()[0].metadata.name
        apis.core.delete_namespaced_pod(victim, apis.ns, grace_period_seconds=0)
        pending = eventually(lambda: [p for p in apis.pods() if p.status.phase == "Pending"],
                             30, "a replacement pod Pending", interval=0.5)
        assert pending[0].spec.node_name is None
    finally:
        apis.core.patch_node(node, {"spec": {"unschedulable": False}})
    apis.rolled_out(2)


def test_delete_namespace_removes_everything(fresh: Apis) -> None:
    apis = fresh
    create_app(apis)
    apis.rolled_out(2)
    apis.core.delete_namespace(apis.ns)

    def gone() -> bool:
        try:
            apis.core.read_namespace(apis.ns)
        except ApiException as e:
            return bool(e.status == 404)  # status is untyped in the client
        return False
    eventually(gone, 90, f"namespace {apis.ns} gone", interval=0.5)
    assert apis.core.list_namespaced_pod(apis.ns).items == []
    assert apis.apps.list_namespaced_deployment(apis.ns).items == []
