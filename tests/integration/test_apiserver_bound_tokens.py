"""Service-account credentials as Kubernetes gives them now, against a real api-server:
the admission's projected volume (and `automountServiceAccountToken: false` honoured),
TokenRequest tokens bound to a pod that die with it (as soon as the api-server's watch
sees the pod go: no etcd read per request, no TTL cache), tokens of an account made a
moment ago that work at once, and a node that may only get tokens for its own pods."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from minikube_py.apiserver.serviceaccount_admission import MOUNT_PATH, VOLUME_PREFIX
from minikube_py.cluster.tokens import new_node_token, node_credentials_secret
from tests.fixtures.apiserver import ApiServer, as_user

DISCOVERY = "/api"  # any authenticated user may read it: 200 means "the token works"
# How soon a deletion reaches the credential index: a watch event, milliseconds; the
# bound is for a machine loaded by other tests.
PROMPTLY = 3.0
SECRETS = "/api/v1/namespaces/kube-system/secrets"


def _namespace(server: ApiServer) -> str:
    """A namespace with its `default` account (no controller-manager runs here)."""
    name = f"tok-{uuid.uuid4().hex[:6]}"
    assert server.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    assert server.request("POST", f"/api/v1/namespaces/{name}/serviceaccounts",
                          {"metadata": {"name": "default"}})[0] == 201
    return name


def _pod(server: ApiServer, ns: str, name: str, **spec: Any) -> dict[str, Any]:
    status, pod = server.request("POST", f"/api/v1/namespaces/{ns}/pods", {
        "metadata": {"name": name}, "spec": {
            "containers": [{"name": "a", "image": "busybox"}],
            "initContainers": [{"name": "init", "image": "busybox"}], **spec}})
    assert status == 201, pod
    assert isinstance(pod, dict)
    return pod


def _token(server: ApiServer, ns: str, account: str, pod: dict[str, Any] | None = None,
           token: str | None = None) -> tuple[int, Any]:
    spec: dict[str, Any] = {}
    if pod is not None:
        spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1",
                                  "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    path = f"/api/v1/namespaces/{ns}/serviceaccounts/{account}/token"
    return server.request("POST", path, body) if token is None else \
        as_user(server, token, "POST", path, body)


def test_pods_get_a_projected_token_volume_unless_they_opt_out(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    pod = _pod(apiserver, ns, "plain")
    assert pod["spec"]["serviceAccountName"] == "default"
    (volume,) = pod["spec"]["volumes"]
    assert volume["name"].startswith(VOLUME_PREFIX) and len(volume["name"]) == \
        len(VOLUME_PREFIX) + 5
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == \
        "metadata.namespace"
    for container in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        assert container["volumeMounts"] == [
            {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}]

    assert "volumes" not in _pod(apiserver, ns, "opted-out",
                                 automountServiceAccountToken=False)["spec"]
    assert "volumes" not in _pod(apiserver, ns, "no-such-account",
                                 serviceAccountName="ghost")["spec"]
    assert apiserver.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {
        "metadata": {"name": "quiet"}, "automountServiceAccountToken": False})[0] == 201
    assert "volumes" not in _pod(apiserver, ns, "quiet-account",
                                 serviceAccountName="quiet")["spec"]
    assert _pod(apiserver, ns, "pod-overrides-account", serviceAccountName="quiet",
                automountServiceAccountToken=True)["spec"]["volumes"]
    own = {"name": "mine", "emptyDir": {}}
    mounted = _pod(apiserver, ns, "own-mount", volumes=[own], containers=[
        {"name": "a", "image": "busybox",
         "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]}])
    assert mounted["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "mine", "mountPath": MOUNT_PATH}]
    assert mounted["spec"]["initContainers"][0]["volumeMounts"][0]["mountPath"] == MOUNT_PATH


def test_a_token_bound_to_a_pod_dies_with_the_pod(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    pod = _pod(apiserver, ns, "web")
    status, got = _token(apiserver, ns, "default", pod)
    assert status == 201, got
    assert got["spec"]["boundObjectRef"] == {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                             "uid": pod["metadata"]["uid"]}
    token = got["status"]["token"]
    assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 200
    assert apiserver.request("DELETE", f"/api/v1/namespaces/{ns}/pods/web"
                             "?gracePeriodSeconds=0")[0] == 200
    _dies(apiserver, token, "pod")
    # A pod of another account, or one that is gone, is refused.
    other = _pod(apiserver, ns, "other", serviceAccountName="robot")
    assert _token(apiserver, ns, "default", other)[0] == 400
    assert _token(apiserver, ns, "default", pod)[0] == 404


def _dies(server: ApiServer, token: str, what: str) -> None:
    deadline = time.monotonic() + PROMPTLY
    while as_user(server, token, "GET", DISCOVERY)[0] != 401:
        assert time.monotonic() < deadline, f"the token outlived its {what}"
        time.sleep(0.05)


def test_a_new_accounts_token_works_at_once_and_dies_with_it(apiserver: ApiServer) -> None:
    """Made, asked for a token and used back to back, faster than a watch event may
    arrive: what the index does not hold yet is read from etcd. Made again under the same
    name, the old account's tokens stay dead and the new one's work at once."""
    ns = _namespace(apiserver)
    accounts = f"/api/v1/namespaces/{ns}/serviceaccounts"
    for round_ in ("first", "again"):
        assert apiserver.request("POST", accounts, {"metadata": {"name": "fresh"}})[0] == 201
        status, got = _token(apiserver, ns, "fresh")
        assert status == 201, (round_, got)
        token = got["status"]["token"]
        assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 200, round_
        pod = _pod(apiserver, ns, f"pod-{round_}", serviceAccountName="fresh")
        assert pod["spec"]["volumes"], "admission saw the account"
        status, got = _token(apiserver, ns, "fresh", pod)
        assert status == 201, got
        assert as_user(apiserver, got["status"]["token"], "GET", DISCOVERY)[0] == 200
        assert apiserver.request("DELETE", f"{accounts}/fresh")[0] == 200
        _dies(apiserver, token, "service account")


def test_a_node_gets_tokens_only_for_its_own_pods(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    node = f"n-{uuid.uuid4().hex[:6]}"
    node_token = new_node_token(node)
    assert apiserver.request("POST", SECRETS, node_credentials_secret(node, node_token))[0] \
        == 201
    mine = _pod(apiserver, ns, "mine", nodeName=node)
    theirs = _pod(apiserver, ns, "theirs", nodeName="elsewhere")
    assert _token(apiserver, ns, "default", mine, node_token)[0] == 201
    assert _token(apiserver, ns, "default", theirs, node_token)[0] == 403
    assert _token(apiserver, ns, "default", None, node_token)[0] == 403


@pytest.mark.parametrize("ref", [
    {"kind": "Secret", "apiVersion": "v1", "name": "s"},
    {"kind": "Pod", "apiVersion": "v1"},
    {"kind": "Pod", "apiVersion": "apps/v1", "name": "p"},
])
def test_bad_bindings_are_422(apiserver: ApiServer, ref: dict[str, Any]) -> None:
    status, got = apiserver.request(
        "POST", "/api/v1/namespaces/default/serviceaccounts/default/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"boundObjectRef": ref}})
    assert status == 422 and got["details"]["causes"][0]["field"] == "spec.boundObjectRef"
