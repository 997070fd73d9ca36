"""PersistentVolumes, claims and StorageClasses through a real api-server and kubectl:
short names and kubectl's columns, 422s naming the field, a class-less claim given
the default class, and the protection finalizer holding a deleted claim."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.fixtures.apiserver import ApiServer

SC_PATH = "/apis/storage.k8s.io/v1/storageclasses"


def _names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:6]
    return f"st-{suffix}", f"sc-{suffix}"


def _namespace(apiserver: ApiServer, name: str) -> None:
    assert apiserver.request("POST", "/api/v1/namespaces",
                             {"metadata": {"name": name}})[0] == 201


def test_kubectl_applies_and_prints_storage_kinds(apiserver: ApiServer, tmp_path: Path) -> None:
    ns, sc = _names()
    _namespace(apiserver, ns)
    manifest = tmp_path / "storage.yaml"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {
            "name": sc, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
         "reclaimPolicy": "Delete"},
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{ns}"},
         "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"],
                  "hostPath": {"path": f"/tmp/{ns}"}, "storageClassName": "manual"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "data", "namespace": ns},
         "spec": {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "1Gi"}}}}]}))
    try:
        applied = apiserver.kubectl(tmp_path, "apply", "-f", str(manifest))
        assert applied.returncode == 0, applied.stderr
        got = apiserver.kubectl(tmp_path, "get", "sc", sc)
        assert got.stdout.split("\n")[0].split() == [
            "NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION",
            "AGE"]
        assert got.stdout.split("\n")[1].split()[:6] == [
            sc, "(default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", "false"]
        got = apiserver.kubectl(tmp_path, "get", "pv", f"pv-{ns}")
        assert got.stdout.split("\n")[1].split()[:5] == [
            f"pv-{ns}", "2Gi", "RWO", "Retain", "Pending"], got.stdout
        got = apiserver.kubectl(tmp_path, "-n", ns, "get", "pvc", "data", "-o", "json")
        claim = json.loads(got.stdout)
        # DefaultStorageClass admission; StorageObjectInUseProtection's finalizer.
        assert claim["spec"]["storageClassName"] == sc
        assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
        assert claim["status"] == {"phase": "Pending"}
        for args in (("-n", ns, "describe", "pvc", "data"), ("describe", "pv", f"pv-{ns}"),
                     ("describe", "sc", sc)):
            described = apiserver.kubectl(tmp_path, *args)
            assert described.returncode == 0 and "Name:" in described.stdout, described.stderr
        # Nothing removes the finalizer here (no controller runs): the claim stays.
        deleted = apiserver.kubectl(tmp_path, "-n", ns, "delete", "pvc", "data", "--wait=false")
        assert deleted.returncode == 0, deleted.stderr
        status, held = apiserver.request("GET", f"/api/v1/namespaces/{ns}/"
                                                "persistentvolumeclaims/data")
        assert status == 200 and held["metadata"]["deletionTimestamp"]
    finally:
        apiserver.request("DELETE", f"{SC_PATH}/{sc}")
        apiserver.request("PATCH", f"/api/v1/persistentvolumes/pv-{ns}",
                          {"metadata": {"finalizers": None}})
        apiserver.request("DELETE", f"/api/v1/persistentvolumes/pv-{ns}")
        apiserver.request("DELETE", f"/api/v1/namespaces/{ns}")


def test_bad_claims_and_volumes_are_422_naming_the_field(apiserver: ApiServer) -> None:
    ns, _ = _names()
    _namespace(apiserver, ns)
    claim = {"metadata": {"name": "bad"}, "spec": {
        "accessModes": ["ReadWriteSometimes"], "resources": {"requests": {"storage": "lots"}}}}
    status, body = apiserver.request(
        "POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim)
    assert status == 422 and body["reason"] == "Invalid"
    assert {c["field"] for c in body["details"]["causes"]} == {
        "spec.accessModes", "spec.resources[storage]"}
    volume = {"metadata": {"name": f"bad-{ns}"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/srv/a"}, "nfs": {"server": "nas", "path": "/b"}}}
    status, body = apiserver.request("POST", "/api/v1/persistentvolumes", volume)
    assert status == 422
    assert body["details"]["causes"][0]["message"] == \
        "Forbidden: may not specify more than 1 volume type"
    apiserver.request("DELETE", f"/api/v1/namespaces/{ns}")
