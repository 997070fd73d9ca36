"""Protobuf objects from `kubectl create` (1.32, bytes captured with -v=9), decoded to JSON."""

from __future__ import annotations

import pytest

from minikube_py.api.protobuf import decode

# kubectl create configmap made --from-literal k=v
CONFIGMAP = bytes.fromhex(
    "6b3873000a0f0a0276311209436f6e6669674d6170121e0a140a046d616465120"
    "01a0022002a00320038004200120 60a016b1201761a002200".replace(" ", ""))
# kubectl create deployment made --image=minikube-py/busybox:1 --replicas=0 --port=8080 -- sleep 9
DEPLOYMENT = bytes.fromhex("6b3873000a150a07617070732f7631120a4465706c6f796d656e7412da010a210a046d61646512001a0022002a003200380042005a0b0a0361707012046d61646512a6010800120d0a0b0a0361707012046d6164651a8a010a1d0a0012001a0022002a003200380042005a0b0a0361707012046d6164651269124b0a0762757379626f7812156d696e696b7562652d70792f62757379626f783a311a05736c6565701a01392a00320b0a00100018903f22002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200")

# kubectl create token robot --duration 20m --audience a1 --audience a2 --bound-object-kind Pod
#   --bound-object-name p --bound-object-uid u1
TOKEN_REQUEST = bytes.fromhex(
    "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565"
    "737412370a100a0012001a0022002a00320038004200121d0a0261310a0261321a100a03506f641202763"
    "11a01702202753120b0091a040a0012001a002200")


def test_token_request() -> None:
    assert decode(TOKEN_REQUEST) == {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
        "spec": {"audiences": ["a1", "a2"], "expirationSeconds": 1200,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p",
                                    "uid": "u1"}},
        "status": {}}

# kubectl auth can-i create pods -n ns1
ACCESS_REVIEW = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a6563"
    "74416363657373526576696577123b0a100a0012001a0022002a00320038004200121d0a1b0a036e733112"
    "066372656174651a0022002a04706f647332003a001a08080012001a0020001a002200")


def test_self_subject_access_review() -> None:
    assert decode(ACCESS_REVIEW) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "ns1", "verb": "create",
                                        "resource": "pods"}},
        "status": {}}


def test_configmap_with_empty_meta_fields_dropped() -> None:
    assert decode(CONFIGMAP) == {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "made"}, "data": {"k": "v"}}


def test_deployment_keeps_pointer_zero_and_required_numbers() -> None:
    obj = decode(DEPLOYMENT)
    assert obj["apiVersion"] == "apps/v1" and obj["kind"] == "Deployment"
    assert obj["metadata"] == {"name": "made", "labels": {"app": "made"}}
    spec = obj["spec"]
    assert spec["replicas"] == 0  # a pointer: zero is a value, not "unset"
    assert spec["selector"] == {"matchLabels": {"app": "made"}}
    assert spec["template"]["metadata"] == {"labels": {"app": "made"}}
    assert spec["template"]["spec"]["containers"] == [{
        "name": "busybox", "image": "minikube-py/busybox:1", "command": ["sleep", "9"],
        "ports": [{"containerPort": 8080}], "resources": {}}]
    assert obj["status"] == {}


def _configmap(raw: bytes) -> bytes:
    type_meta = b"\x0a\x02v1\x12\x09ConfigMap"
    return b"k8s\x00\x0a" + bytes([len(type_meta)]) + type_meta + b"\x12" + \
        bytes([len(raw)]) + raw


def test_a_field_we_do_not_know_is_refused_unless_empty() -> None:
    meta = b"\x0a\x06\x0a\x04made"
    with pytest.raises(ValueError, match="field 9"):
        decode(_configmap(meta + b"\x4a\x01x"))  # field 9 = "x": refused, not dropped
    assert decode(_configmap(meta + b"\x4a\x00"))["metadata"] == {"name": "made"}


# kubectl auth reconcile's PUT of a Role it read back, metadata.managedFields included
ROLE_PUT = bytes.fromhex(
    "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c65"
    "12d7010aac010a02636d12001a0b726261632d65623664623622002a2439313737623264332d64616438"
    "2d343566642d383362622d65386563636537386534666332033130303800420808f1a9dad80610008a01"
    "5d0a0d507974686f6e2d75726c6c696212065570646174651a1c726261632e617574686f72697a617469"
    "6f6e2e6b38732e696f2f7631220808f1a9dad806100032084669656c647356313a100a0e7b22663a7275"
    "6c6573223a7b7d7d420012110a046c69737412001a077365637265747312130a0367657412001a0a636f"
    "6e6669676d6170731a002200")


def test_role_put_back_with_its_managed_fields() -> None:
    obj = decode(ROLE_PUT)
    assert obj["metadata"] == {
        "name": "cm", "namespace": "rbac-eb6db6",
        "uid": "9177b2d3-dad8-45fd-83bb-e8ecce78e4fc", "resourceVersion": "100",
        "creationTimestamp": "2026-12-07T11:13:53Z",
        "managedFields": [{"manager": "Python-urllib", "operation": "Update",
                           "apiVersion": "rbac.authorization.k8s.io/v1",
                           "time": "2026-12-07T11:13:53Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:rules": {}}}]}
    assert obj["rules"] == [{"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]},
                            {"verbs": ["get"], "apiGroups": [""],
                             "resources": ["configmaps"]}]
