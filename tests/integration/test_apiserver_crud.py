"""CRUD of every kind through a real api-server on a real (embedded) etcd."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from minikube_py.api.resources import (
    ALL,
    APISERVICES,
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    CONFIGMAPS,
    CONTROLLERREVISIONS,
    CRONJOBS,
    CUSTOMRESOURCEDEFINITIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINTS,
    ENDPOINTSLICES,
    EVENTS,
    HORIZONTALPODAUTOSCALERS,
    INGRESSCLASSES,
    INGRESSES,
    JOBS,
    LEASES,
    NAMESPACES,
    NETWORKPOLICIES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODDISRUPTIONBUDGETS,
    PODS,
    RBAC_GROUP,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICES,
    STATEFULSETS,
    STORAGECLASSES,
    Resource,
)
from tests.fixtures.apiserver import ApiServer

POD_SPEC = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}
JOB_TEMPLATE = {"spec": {**POD_SPEC, "restartPolicy": "Never"}}
SELECTED = {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}
CLAIM = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
# Kinds whose status the api-server writes at once (the APIService availability controller).
SERVER_STATUS = (APISERVICES,)
# Kinds created with a finalizer that a controller removes: a DELETE only marks them.
FINALIZED = (PERSISTENTVOLUMES, PERSISTENTVOLUMECLAIMS)


def sample(resource: Resource, name: str, ns: str = "default") -> dict[str, Any]:
    """A minimal valid object of each kind, and the field a test update changes."""
    body: dict[str, Any] = {"apiVersion": resource.api_version, "kind": resource.kind,
                            "metadata": {"name": name, "labels": {"t": "crud"}}}
    extra: dict[Resource, dict[str, Any]] = {
        PODS: {"spec": POD_SPEC},
        SERVICES: {"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
        ENDPOINTS: {"subsets": [{"addresses": [{"ip": "10.244.0.5"}],
                                 "ports": [{"port": 80}]}]},
        SECRETS: {"data": {"k": "dmFsdWU="}},
        CONFIGMAPS: {"data": {"k": "v"}},
        EVENTS: {"involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
                 "reason": "Test", "message": "m", "type": "Normal"},
        DEPLOYMENTS: {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                               "template": TEMPLATE}},
        REPLICASETS: {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                               "template": TEMPLATE}},
        REPLICATIONCONTROLLERS: {"spec": {"replicas": 1, "template": TEMPLATE}},
        DAEMONSETS: {"spec": SELECTED},
        STATEFULSETS: {"spec": {**SELECTED, "serviceName": "x"}},
        CONTROLLERREVISIONS: {"revision": 1, "data": {"spec": {}}},
        JOBS: {"spec": {"template": JOB_TEMPLATE}},
        CRONJOBS: {"spec": {"schedule": "*/5 * * * *",
                            "jobTemplate": {"spec": {"template": JOB_TEMPLATE}}}},
        PODDISRUPTIONBUDGETS: {"spec": {"minAvailable": 1,
                                        "selector": {"matchLabels": {"app": "x"}}}},
        PERSISTENTVOLUMES: {"spec": {"capacity": {"storage": "1Gi"},
                                     "accessModes": ["ReadWriteOnce"],
                                     "hostPath": {"path": "/tmp/crud-pv"}}},
        PERSISTENTVOLUMECLAIMS: {"spec": CLAIM},
        STORAGECLASSES: {"provisioner": "example.com/none"},
        INGRESSES: {"spec": {"ingressClassName": "none", "defaultBackend": {
            "service": {"name": "web", "port": {"number": 80}}}}},
        INGRESSCLASSES: {"spec": {"controller": "example.com/none"}},
        NETWORKPOLICIES: {"spec": {"podSelector": {"matchLabels": {"app": "x"}}}},
        HORIZONTALPODAUTOSCALERS: {"spec": {"scaleTargetRef": {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 3}},
        APISERVICES: {"spec": {"group": name.split(".", 1)[-1], "version": "v1",
                               "groupPriorityMinimum": 100, "versionPriority": 10}},
        LEASES: {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
        ENDPOINTSLICES: {"addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.5"]}],
                         "ports": [{"port": 80}]},
        ROLES: {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
        CLUSTERROLES: {"rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]},
        ROLEBINDINGS: {"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "r"}},
        CLUSTERROLEBINDINGS: {"roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole",
                                          "name": "view"}},
        CUSTOMRESOURCEDEFINITIONS: {"spec": {  # named <plural>.<group>: see crd_name
            "group": name.split(".", 1)[-1], "scope": "Namespaced",
            "names": {"plural": name.split(".", 1)[0], "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True}}}]}},
    }
    body.update(extra.get(resource, {}))
    return body


@pytest.fixture(scope="module")
def ns(apiserver: ApiServer) -> str:
    name = f"crud-{uuid.uuid4().hex[:6]}"
    status, _ = apiserver.request("POST", "/api/v1/namespaces", sample(NAMESPACES, name))
    assert status == 201
    return name


def _with_server_status(apiserver: ApiServer, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, got = apiserver.request("GET", path)
        assert status == 200 and isinstance(got, dict), got
        if (got.get("status") or {}).get("conditions"):
            return got
        time.sleep(0.1)
    raise AssertionError(f"no status written for {path}")


@pytest.mark.parametrize("resource", ALL, ids=lambda r: r.plural)
def test_create_get_list_update_delete(apiserver: ApiServer, ns: str, resource: Resource
                                       ) -> None:
    name = f"x-{uuid.uuid4().hex[:6]}"
    if resource is CUSTOMRESOURCEDEFINITIONS:
        name += ".crud.example.com"
    if resource is APISERVICES:  # named <version>.<group>: see sample
        name = f"v1.{name}.example.com"
    collection = resource.path(ns)
    status, created = apiserver.request("POST", collection, sample(resource, name, ns))
    assert status == 201, created
    assert isinstance(created, dict)
    meta = created["metadata"]
    assert meta["name"] == name and meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    if resource in SERVER_STATUS:
        created = _with_server_status(apiserver, resource.path(ns, name))

    status, got = apiserver.request("GET", resource.path(ns, name))
    assert status == 200 and got == created

    status, listed = apiserver.request("GET", collection + "?labelSelector=t%3Dcrud")
    assert status == 200 and isinstance(listed, dict)
    assert listed["kind"] == resource.list_kind
    assert name in [i["metadata"]["name"] for i in listed["items"]]

    got["metadata"].setdefault("annotations", {})["touched"] = "yes"
    status, updated = apiserver.request("PUT", resource.path(ns, name), got)
    assert status == 200, updated
    assert isinstance(updated, dict)
    assert updated["metadata"]["annotations"]["touched"] == "yes"
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    # The stale resourceVersion now loses, with Kubernetes' message.
    status, stale = apiserver.request("PUT", resource.path(ns, name), got)
    assert status == 409 and isinstance(stale, dict)
    assert stale["reason"] == "Conflict"
    assert "the object has been modified; please apply your changes to the latest version " \
           "and try again" in stale["message"]

    status, _ = apiserver.request("DELETE", resource.path(ns, name) + "?gracePeriodSeconds=0")
    assert status == 200
    if resource is NAMESPACES:
        # Namespaces only become Terminating until the namespace controller empties them.
        status, gone = apiserver.request("GET", resource.path(ns, name))
        assert isinstance(gone, dict) and gone["status"]["phase"] == "Terminating"
    elif resource in FINALIZED:
        # Marked for deletion; gone once the protection controller's finalizer is removed.
        status, marked = apiserver.request("GET", resource.path(ns, name))
        assert status == 200 and isinstance(marked, dict)
        assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["finalizers"]
        marked["metadata"]["finalizers"] = []
        assert apiserver.request("PUT", resource.path(ns, name), marked)[0] == 200
        status, gone = apiserver.request("GET", resource.path(ns, name))
        assert status == 404 and isinstance(gone, dict) and gone["reason"] == "NotFound"
    else:
        deadline = time.monotonic() + 5  # a CRD goes once the api-server deleted its objects
        while (status := apiserver.request("GET", resource.path(ns, name))[0]) == 200 \
                and resource is CUSTOMRESOURCEDEFINITIONS and time.monotonic() < deadline:
            time.sleep(0.05)
        status, gone = apiserver.request("GET", resource.path(ns, name))
        assert status == 404 and isinstance(gone, dict) and gone["reason"] == "NotFound"


def test_generate_name(apiserver: ApiServer, ns: str) -> None:
    body = sample(CONFIGMAPS, "")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "gen-"
    names = set()
    for _ in range(3):
        status, created = apiserver.request("POST", CONFIGMAPS.path(ns), body)
        assert status == 201 and isinstance(created, dict)
        names.add(created["metadata"]["name"])
    assert len(names) == 3 and all(n.startswith("gen-") and len(n) == 9 for n in names)


def test_cluster_scoped_node(apiserver: ApiServer) -> None:
    name = f"node-{uuid.uuid4().hex[:6]}"
    status, created = apiserver.request("POST", NODES.path(), sample(NODES, name))
    assert status == 201 and isinstance(created, dict)
    assert "namespace" not in created["metadata"]
    assert apiserver.request("DELETE", NODES.path(None, name))[0] == 200


def test_already_exists(apiserver: ApiServer, ns: str) -> None:
    body = sample(CONFIGMAPS, "dup")
    assert apiserver.request("POST", CONFIGMAPS.path(ns), body)[0] == 201
    status, err = apiserver.request("POST", CONFIGMAPS.path(ns), body)
    assert status == 409 and isinstance(err, dict) and err["reason"] == "AlreadyExists"
    assert err["message"] == 'configmaps "dup" already exists'


def test_all_namespaces_list(apiserver: ApiServer, ns: str) -> None:
    status, listed = apiserver.request("GET", "/api/v1/services")
    assert status == 200 and isinstance(listed, dict)
    keys = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]}
    assert ("default", "kubernetes") in keys
