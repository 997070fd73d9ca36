"""PersistentVolumes, claims and StorageClasses: defaults, the protection finalizers,
one case per cause path (named by the field Kubernetes reports), what may change on
update, and kubectl's cells."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from tests.fixtures.api_strategies import DELETE, created_causes, set_path, table_meta, table_row

Obj = dict[str, Any]
PV, PVC, SC = (resources.PERSISTENTVOLUMES, resources.PERSISTENTVOLUMECLAIMS,
               resources.STORAGECLASSES)
AFFINITY = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}
VALID: dict[Resource, Obj] = {
    PV: {"metadata": {"name": "pv-1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/srv/pv-1"}, "storageClassName": "manual"}},
    PVC: {"metadata": {"name": "data", "namespace": "default"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "500Mi"}},
        "selector": {"matchLabels": {"disk": "ssd"}}}},
    SC: {"metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path",
         "volumeBindingMode": "WaitForFirstConsumer"},
}


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.plural) for r in VALID])
def test_valid_objects_have_no_causes(resource: Resource) -> None:
    assert created_causes(resource, VALID[resource]) == []


def _created(resource: Resource, obj: Obj) -> Obj:
    obj = copy.deepcopy(obj)
    strategy = strategy_for(resource)
    strategy.default(obj)
    strategy.prepare_create(obj)
    return obj


def test_defaults_phase_and_protection_finalizers() -> None:
    pv, pvc, sc = (_created(r, VALID[r]) for r in (PV, PVC, SC))
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["volumeMode"] == pvc["spec"]["volumeMode"] == "Filesystem"
    assert pv["status"] == pvc["status"] == {"phase": "Pending"}
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    assert pvc["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "WaitForFirstConsumer")
    assert _created(SC, {**VALID[SC], "volumeBindingMode": None})["volumeBindingMode"] is None


CASES = [
    (PV, set_path("spec.accessModes", DELETE), "spec.accessModes", "FieldValueRequired"),
    (PV, set_path("spec.accessModes", ["ReadWriteSometimes"]), "spec.accessModes",
     "FieldValueNotSupported"),
    (PV, set_path("spec.accessModes", ["ReadWriteOncePod", "ReadOnlyMany"]), "spec.accessModes",
     "FieldValueForbidden"),
    (PV, set_path("spec.capacity", DELETE), "spec.capacity", "FieldValueRequired"),
    (PV, set_path("spec.capacity", {"cpu": "1"}), "spec.capacity", "FieldValueNotSupported"),
    (PV, set_path("spec.capacity.storage", "lots"), "spec.capacity[storage]",
     "FieldValueInvalid"),
    (PV, set_path("spec.capacity.storage", "0"), "spec.capacity[storage]", "FieldValueInvalid"),
    (PV, set_path("spec.persistentVolumeReclaimPolicy", "Shred"),
     "spec.persistentVolumeReclaimPolicy", "FieldValueNotSupported"),
    (PV, set_path("spec.volumeMode", "Tape"), "spec.volumeMode", "FieldValueNotSupported"),
    (PV, set_path("spec.storageClassName", "Bad_Class"), "spec.storageClassName",
     "FieldValueInvalid"),
    (PV, set_path("spec.hostPath", DELETE), "spec", "FieldValueRequired"),
    (PV, set_path("spec.nfs", {"server": "nas", "path": "/x"}), "spec.nfs",
     "FieldValueForbidden"),
    (PV, set_path("spec.hostPath.path", "relative"), "spec.hostPath.path", "FieldValueInvalid"),
    (PV, set_path("spec.hostPath.path", "/srv/../etc"), "spec.hostPath.path",
     "FieldValueInvalid"),
    (PV, lambda o: o["spec"].update(hostPath=None, nfs={"path": "/export"}), "spec.nfs.server",
     "FieldValueRequired"),
    (PV, lambda o: o["spec"].update(hostPath=None, nfs={"server": "-oexec", "path": "/x"}),
     "spec.nfs.server", "FieldValueInvalid"),
    (PV, lambda o: o["spec"].update(hostPath=None, local={"path": "/mnt/disk"}),
     "spec.nodeAffinity", "FieldValueRequired"),
    (PVC, set_path("spec.accessModes", []), "spec.accessModes", "FieldValueRequired"),
    (PVC, set_path("spec.accessModes", ["Sideways"]), "spec.accessModes",
     "FieldValueNotSupported"),
    (PVC, set_path("spec.resources", DELETE), "spec.resources[storage]", "FieldValueRequired"),
    (PVC, set_path("spec.resources.requests.storage", "1Zb"), "spec.resources[storage]",
     "FieldValueInvalid"),
    (PVC, set_path("spec.resources.requests.storage", "-1Gi"), "spec.resources[storage]",
     "FieldValueInvalid"),
    (PVC, set_path("spec.volumeMode", "Tape"), "spec.volumeMode", "FieldValueNotSupported"),
    (PVC, set_path("spec.selector", {"matchExpressions": [{"key": "a", "operator": "Near"}]}),
     "spec.selector", "FieldValueInvalid"),
    (PVC, set_path("spec.volumeName", "Bad_Name"), "spec.volumeName", "FieldValueInvalid"),
    (PVC, set_path("spec", DELETE), "spec", "FieldValueRequired"),
    (SC, set_path("provisioner", DELETE), "provisioner", "FieldValueRequired"),
    (SC, set_path("provisioner", "no spaces/please"), "provisioner", "FieldValueInvalid"),
    (SC, set_path("reclaimPolicy", "Recycle"), "reclaimPolicy", "FieldValueNotSupported"),
    (SC, set_path("volumeBindingMode", "Later"), "volumeBindingMode", "FieldValueNotSupported"),
    (SC, set_path("parameters", {"size": 3}), "parameters", "FieldValueInvalid"),
]


@pytest.mark.parametrize(("resource", "mutate", "path", "reason"), [
    pytest.param(*c, id=f"{c[0].plural}:{c[2]}:{c[3]}") for c in CASES])
def test_cause(resource: Resource, mutate: Callable[[Obj], None], path: str,
               reason: str) -> None:
    obj = copy.deepcopy(VALID[resource])
    mutate(obj)
    causes = created_causes(resource, obj)
    assert (path, reason) in [(c.field, c.reason) for c in causes], causes


def _update_causes(resource: Resource, old: Obj, change: Callable[[Obj], None]) -> list[Any]:
    strategy = strategy_for(resource)
    old = _created(resource, old)
    old["metadata"].update(uid="u1", creationTimestamp="2024-01-01T00:00:00Z",
                           resourceVersion="5")
    new = copy.deepcopy(old)
    change(new)
    strategy.default(new)
    strategy.prepare_update(new, old)
    return strategy.validate_update(new, old)


@pytest.mark.parametrize(("resource", "change", "path"), [
    pytest.param(PV, set_path("spec.hostPath.path", "/elsewhere"),
                 "spec.persistentvolumesource", id="pv-source"),
    pytest.param(PV, set_path("spec.volumeMode", "Block"), "spec.volumeMode", id="pv-mode"),
    pytest.param(PVC, set_path("spec.accessModes", ["ReadWriteMany"]), "spec", id="pvc-spec"),
    pytest.param(PVC, set_path("spec.resources.requests.storage", "100Mi"),
                 "spec.resources.requests.storage", id="pvc-shrink"),
    pytest.param(SC, set_path("provisioner", "example.com/nas"), "provisioner", id="sc-prov"),
    pytest.param(SC, set_path("volumeBindingMode", "Immediate"), "volumeBindingMode",
                 id="sc-mode"),
])
def test_immutable_fields(resource: Resource, change: Callable[[Obj], None], path: str) -> None:
    assert path in [c.field for c in _update_causes(resource, VALID[resource], change)]


@pytest.mark.parametrize(("resource", "change"), [
    pytest.param(PV, lambda o: o["spec"].update(claimRef={"name": "c", "namespace": "d"},
                                               persistentVolumeReclaimPolicy="Delete"),
                 id="pv-claimref-and-policy"),
    pytest.param(PVC, set_path("spec.volumeName", "pv-1"), id="pvc-binder-sets-volume"),
    pytest.param(PVC, set_path("spec.resources.requests.storage", "1Gi"), id="pvc-grows"),
    pytest.param(SC, set_path("allowVolumeExpansion", True), id="sc-expansion"),
])
def test_allowed_updates(resource: Resource, change: Callable[[Obj], None]) -> None:
    assert _update_causes(resource, VALID[resource], change) == []


def test_a_bound_claim_keeps_its_volume() -> None:
    bound = copy.deepcopy(VALID[PVC])
    bound["spec"]["volumeName"] = "pv-1"
    causes = _update_causes(PVC, bound, set_path("spec.volumeName", "pv-2"))
    assert [c.field for c in causes] == ["spec"]


def test_kubectl_cells() -> None:
    pv = {"metadata": table_meta("pv-1"), "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
        "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path",
        "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}}
    assert table_row(PV, pv) == {
        "Name": "pv-1", "Capacity": "1Gi", "Access Modes": "RWO,ROX",
        "Reclaim Policy": "Delete", "Status": "Bound", "Claim": "default/data",
        "StorageClass": "local-path", "VolumeAttributesClass": "<unset>", "Reason": "",
        "Age": "5m", "VolumeMode": "Filesystem"}
    pvc = {"metadata": table_meta("data"), "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
        "volumeName": "pv-1", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "1Gi"}}}
    assert table_row(PVC, pvc) == {
        "Name": "data", "Status": "Bound", "Volume": "pv-1", "Capacity": "1Gi",
        "Access Modes": "RWO", "StorageClass": "local-path",
        "VolumeAttributesClass": "<unset>", "Age": "5m", "VolumeMode": "Filesystem"}
    pending = {**pvc, "spec": {**pvc["spec"], "volumeName": ""}, "status": {"phase": "Pending"}}
    assert table_row(PVC, pending)["Capacity"] == table_row(PVC, pending)["Access Modes"] == ""
    sc = {"metadata": table_meta("local-path", annotations={
        "storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"}
    assert table_row(SC, sc) == {
        "Name": "local-path (default)", "Provisioner": "rancher.io/local-path",
        "ReclaimPolicy": "Delete", "VolumeBindingMode": "WaitForFirstConsumer",
        "AllowVolumeExpansion": "false", "Age": "5m"}


@pytest.mark.parametrize(("mount", "causes"), [
    pytest.param("data", [], id="claim-template"),
    pytest.param("other", ["spec.template.spec.containers[0].volumeMounts[0].name"],
                 id="unknown")])
def test_statefulset_containers_may_mount_claim_templates(mount: str, causes: list[str]) -> None:
    sts = {"metadata": {"name": "db", "namespace": "default"}, "spec": {
        "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
            {"name": "c", "image": "busybox", "volumeMounts": [
                {"name": mount, "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    assert [c.field for c in created_causes(resources.STATEFULSETS, sts)] == causes
