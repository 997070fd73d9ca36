"""HTTPS, the PKI on disk, and who may do what (tokens, node authorizer, bootstrappers)."""

from __future__ import annotations

import base64
import ipaddress
import stat
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from minikube_py.api.sa_token import (
    API_AUDIENCE,
    bound_claims,
    claims_for,
    load_private_key,
    sign_token,
)
from minikube_py.cluster.tokens import (
    new_node_token,
    new_token,
    node_credentials_secret,
    token_secret,
)
from tests.fixtures.apiserver import ApiServer, as_user

SECRETS = "/api/v1/namespaces/kube-system/secrets"
# What every authenticated user may read (system:discovery): 200 means "authenticated".
DISCOVERY = "/api"


def test_pki_files_are_private_and_cert_has_sans(apiserver: ApiServer) -> None:
    pki = apiserver.data_dir / "pki"
    for name in ("ca.key", "apiserver.key", "admin.token", "sa.key",
                 "apiserver-kubelet-client.key"):
        assert stat.S_IMODE((pki / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(apiserver.kubeconfig.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(san.get_values_for_type(x509.DNSName))
    assert {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local"} <= names
    ips = set(san.get_values_for_type(x509.IPAddress))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.96.0.1")} <= ips
    conf = yaml.safe_load(apiserver.kubeconfig.read_text())
    cluster = conf["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://127.0.0.1:{apiserver.port}"
    assert base64.b64decode(cluster["certificate-authority-data"]) == \
        (pki / "ca.crt").read_bytes()


def test_tls_san_reissues_certificate(apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(tls_san="api.lab.example")
    cert = x509.load_pem_x509_certificate((server.data_dir / "pki" /
                                           "apiserver.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.lab.example" in san.get_values_for_type(x509.DNSName)


def test_plain_http_is_refused(apiserver: ApiServer) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{apiserver.port}/healthz", timeout=5).read()


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_health_and_version_are_anonymous(apiserver: ApiServer, path: str) -> None:
    assert apiserver.request("GET", path, auth=False)[0] == 200


@pytest.mark.parametrize("token", [None, "wrong", "abcdef.0123456789abcdef",
                                   "mkpnode:n1:00", "a.b.c"])
def test_without_valid_token_401_status(apiserver: ApiServer, token: str | None) -> None:
    status, body = as_user(apiserver, token, "GET", "/api/v1/pods")
    assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_cluster_info_is_the_only_anonymous_object(apiserver: ApiServer) -> None:
    cm = {"metadata": {"name": "cluster-info"}, "data": {"kubeconfig": "x"}}
    apiserver.request("POST", "/api/v1/namespaces/kube-public/configmaps", cm)
    status, got = as_user(apiserver, None,
                          "GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info")
    assert status == 200 and got["data"] == {"kubeconfig": "x"}
    assert as_user(apiserver, None, "GET", "/api/v1/namespaces/kube-public/configmaps")[0] == 401


def test_service_account_token_valid_while_its_secret_exists(apiserver: ApiServer) -> None:
    key = load_private_key((apiserver.data_dir / "pki" / "sa.key").read_bytes())
    secret_name = f"sa-token-{uuid.uuid4().hex[:5]}"
    token = sign_token(key, claims_for("default", "builder", "uid-1", secret_name))
    assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 401
    secret: dict[str, Any] = {
        "metadata": {"name": secret_name}, "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()}}
    secret["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "builder"}
    status, _ = apiserver.request("POST", "/api/v1/namespaces/default/secrets", secret)
    assert status == 201
    assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 200  # no negative cache
    forged = sign_token(load_private_key(_other_rsa_key()),
                        claims_for("default", "builder", "uid-1", secret_name))
    assert as_user(apiserver, forged, "GET", DISCOVERY)[0] == 401


def _other_rsa_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def test_bootstrap_token_may_only_register_its_node(apiserver: ApiServer) -> None:
    token = new_token()
    assert apiserver.request("POST", SECRETS, token_secret(token, timedelta(hours=1)))[0] == 201
    node = f"n-{uuid.uuid4().hex[:6]}"
    node_token = new_node_token(node)
    good = node_credentials_secret(node, node_token)
    assert as_user(apiserver, token, "GET", "/api/v1/pods")[0] == 403
    wrong = node_credentials_secret(node, node_token)
    wrong["metadata"]["name"] = "node-credentials-someone-else"
    status, body = as_user(apiserver, token, "POST", SECRETS, wrong)
    assert status == 403 and "system:bootstrap:" in body["message"]
    assert as_user(apiserver, token, "POST", SECRETS, good)[0] == 201
    # Spent: its Secret is deleted in the same step, so it soon stops authenticating at all.
    assert as_user(apiserver, token, "POST", SECRETS, good)[0] in (401, 403, 409)
    _wait_status(apiserver, token, 401)

    expired = new_token()
    apiserver.request("POST", SECRETS, token_secret(expired, timedelta(seconds=-5)))
    assert as_user(apiserver, expired, "GET", "/api/v1/pods")[0] == 401


@pytest.mark.parametrize(("field", "value"), [
    pytest.param("auth-extra-groups", "system:masters", id="a group outside bootstrappers"),
    pytest.param("auth-extra-groups", "system:bootstrappers:ok,system:nodes", id="one of two"),
    pytest.param("token-id", "zzzzzz", id="token-id not the secret's name"),
])
def test_a_bootstrap_token_secret_grants_nothing_beyond_bootstrapping(
        apiserver: ApiServer, field: str, value: str) -> None:
    """As kube-apiserver's bootstrap authenticator: such a token does not authenticate."""
    token = new_token()
    secret = token_secret(token, timedelta(hours=1))
    secret["data"][field] = base64.b64encode(value.encode()).decode()
    assert apiserver.request("POST", SECRETS, secret)[0] == 201
    try:
        assert as_user(apiserver, token, "GET", "/api/v1/secrets")[0] == 401
    finally:
        apiserver.request("DELETE", f"{SECRETS}/{secret['metadata']['name']}")


def _may(apiserver: ApiServer, user: str, groups: list[str], **attrs: str) -> bool:
    status, review = apiserver.request(
        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
         "spec": {"user": user, "groups": groups, "resourceAttributes": attrs}})
    assert status == 201, review
    return bool(review["status"]["allowed"])


def test_the_kubelet_client_identity_may_only_use_kubelets(apiserver: ApiServer) -> None:
    """What the api-server's client certificate is to kubelets (system:kubelet-api-admin):
    every kubelet API, and nothing of the cluster's objects."""
    cert = x509.load_pem_x509_certificate(
        (apiserver.data_dir / "pki" / "apiserver-kubelet-client.crt").read_bytes())
    user = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert user == "system:kube-apiserver-kubelet-client"
    for sub in ("proxy", "log", "stats", "metrics"):
        assert _may(apiserver, user, [], verb="create", resource="nodes", subresource=sub,
                    name="any")
    for attrs in ({"verb": "get", "resource": "secrets", "namespace": "kube-system"},
                  {"verb": "get", "resource": "pods", "namespace": "default"},
                  {"verb": "create", "resource": "pods", "subresource": "exec",
                   "namespace": "default", "name": "p"}):
        assert not _may(apiserver, user, [], **attrs), attrs


def test_node_authorizer(apiserver: ApiServer) -> None:
    node, other = f"n-{uuid.uuid4().hex[:6]}", f"o-{uuid.uuid4().hex[:6]}"
    token = new_node_token(node)
    assert apiserver.request("POST", SECRETS, node_credentials_secret(node, token))[0] == 201
    assert as_user(apiserver, token, "GET", "/api/v1/pods")[0] == 200
    assert as_user(apiserver, token, "POST", "/api/v1/nodes",
                   {"metadata": {"name": node}})[0] == 201
    status, body = as_user(apiserver, token, "POST", "/api/v1/nodes",
                           {"metadata": {"name": other}})
    assert status == 403 and f'User "system:node:{node}"' in body["message"]
    lease = {"metadata": {"name": node}, "spec": {"holderIdentity": node}}
    assert as_user(apiserver, token, "POST",
                   "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                   lease)[0] == 201
    pods = "/api/v1/namespaces/default/pods"
    for name, where in (("mine", node), ("theirs", other)):
        pod = {"metadata": {"name": f"{name}-{node}"},
               "spec": {"nodeName": where, "containers": [{"name": "c", "image": "busybox"}]}}
        assert apiserver.request("POST", pods, pod)[0] == 201
    status, mine = as_user(apiserver, token, "GET", f"{pods}/mine-{node}")
    mine["status"] = {"phase": "Running"}
    assert as_user(apiserver, token, "PUT", f"{pods}/mine-{node}/status", mine)[0] == 200
    _, theirs = as_user(apiserver, token, "GET", f"{pods}/theirs-{node}")
    theirs["status"] = {"phase": "Running"}
    assert as_user(apiserver, token, "PUT", f"{pods}/theirs-{node}/status", theirs)[0] == 403
    assert as_user(apiserver, token, "DELETE", f"{pods}/theirs-{node}")[0] == 403
    assert as_user(apiserver, token, "DELETE", f"{pods}/mine-{node}?gracePeriodSeconds=0"
                   )[0] == 200
    assert as_user(apiserver, token, "DELETE",
                   "/api/v1/namespaces/default/configmaps/x")[0] == 403
    assert as_user(apiserver, token, "POST", "/api/v1/namespaces/default/events", {
        "metadata": {"name": f"ev-{node}"}, "reason": "R", "message": "m", "type": "Normal",
        "involvedObject": {"kind": "Node", "name": node}})[0] == 201


def test_a_node_may_campaign_for_load_balancer_addresses_only(apiserver: ApiServer) -> None:
    """Announcer Leases (kube-system/lb-announce-*) are open to every node; other kube-system
    Leases, such as the controller-manager's, are not."""
    node = f"n-{uuid.uuid4().hex[:6]}"
    token = new_node_token(node)
    assert apiserver.request("POST", SECRETS, node_credentials_secret(node, token))[0] == 201
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    name = f"lb-announce-{uuid.uuid4().hex[:6]}"
    status, lease = as_user(apiserver, token, "POST", leases, {
        "metadata": {"name": name}, "spec": {"holderIdentity": node}})
    assert status == 201, lease
    assert as_user(apiserver, token, "PUT", f"{leases}/{name}", lease)[0] == 200
    assert as_user(apiserver, token, "POST", leases, {
        "metadata": {"name": f"kube-controller-manager-{node}"}})[0] == 403
    assert as_user(apiserver, token, "GET", f"{leases}/kube-controller-manager")[0] == 403
    assert apiserver.request("DELETE", f"{leases}/{name}")[0] == 200


def _node_and_namespace(apiserver: ApiServer, prefix: str) -> tuple[str, str, str, str]:
    """A node with its credential, another node's name, and a new namespace."""
    node, other = f"n-{uuid.uuid4().hex[:6]}", f"o-{uuid.uuid4().hex[:6]}"
    token = new_node_token(node)
    assert apiserver.request("POST", SECRETS, node_credentials_secret(node, token))[0] == 201
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    return node, other, token, ns


def test_a_node_reads_only_the_secrets_its_pods_use(apiserver: ApiServer) -> None:
    node, other, token, ns = _node_and_namespace(apiserver, "sec")
    secrets = f"/api/v1/namespaces/{ns}/secrets"
    for name in ("vol", "env", "pull", "projected", "theirs", "unused"):
        assert apiserver.request("POST", secrets, {"metadata": {"name": name},
                                                   "data": {"k": "dg=="}})[0] == 201
    assert apiserver.request("POST", secrets, {
        "metadata": {"name": "robot-token", "annotations": {
            "kubernetes.io/service-account.name": "robot"}},
        "type": "kubernetes.io/service-account-token", "data": {"token": "dA=="}})[0] == 201
    pods = f"/api/v1/namespaces/{ns}/pods"
    mine = {"metadata": {"name": "mine"}, "spec": {
        "nodeName": node, "serviceAccountName": "robot",
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [{"name": "v", "secret": {"secretName": "vol"}},
                    {"name": "p", "projected": {"sources": [{"secret": {"name": "projected"}}]}}],
        "containers": [{"name": "c", "image": "busybox", "env": [
            {"name": "E", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}}]}]}}
    theirs = {"metadata": {"name": "theirs"}, "spec": {
        "nodeName": other, "volumes": [{"name": "v", "secret": {"secretName": "theirs"}}],
        "containers": [{"name": "c", "image": "busybox"}]}}
    for pod in (mine, theirs):
        assert apiserver.request("POST", pods, pod)[0] == 201
    for name in ("vol", "env", "pull", "projected", "robot-token"):
        assert as_user(apiserver, token, "GET", f"{secrets}/{name}")[0] == 200, name
    # Decided from the node graph in memory, not by listing the namespace's pods each time.
    etcd_lists = apiserver.metric('etcd_request_duration_seconds_count{operation="list"}')
    for _ in range(20):
        assert as_user(apiserver, token, "GET", f"{secrets}/vol")[0] == 200
    assert apiserver.metric('etcd_request_duration_seconds_count{operation="list"}') \
        - etcd_lists < 5
    for name in ("theirs", "unused", "absent"):
        status, body = as_user(apiserver, token, "GET", f"{secrets}/{name}")
        assert status == 403 and f'User "system:node:{node}"' in body["message"], name
    for path in (secrets, f"{secrets}?watch=1", "/api/v1/secrets"):
        assert as_user(apiserver, token, "GET", path)[0] == 403, path
    # Service accounts alike: the one its pod runs as, no other, no list.
    accounts = f"/api/v1/namespaces/{ns}/serviceaccounts"
    assert apiserver.request("POST", accounts, {"metadata": {"name": "robot"}})[0] == 201
    assert as_user(apiserver, token, "GET", f"{accounts}/robot")[0] == 200
    for path in (f"{accounts}/default", accounts, "/api/v1/serviceaccounts"):
        assert as_user(apiserver, token, "GET", path)[0] == 403, path


def test_a_node_reads_only_the_configmaps_its_pods_use(apiserver: ApiServer) -> None:
    """As the secrets: by volume, projected source (the service account's CA), env or
    envFrom of a pod bound to the node; no list, no watch, no other node's."""
    node, other, token, ns = _node_and_namespace(apiserver, "cm")
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"
    for name in ("vol", "ca", "env", "from", "theirs", "unused"):
        assert apiserver.request("POST", configmaps, {"metadata": {"name": name},
                                                      "data": {"k": "v"}})[0] == 201
    mine = {"metadata": {"name": "mine"}, "spec": {"nodeName": node, "volumes": [
        {"name": "v", "configMap": {"name": "vol"}},
        {"name": "p", "projected": {"sources": [{"configMap": {"name": "ca"}}]}}],
        "initContainers": [{"name": "i", "image": "busybox",
                            "envFrom": [{"configMapRef": {"name": "from"}}]}],
        "containers": [{"name": "c", "image": "busybox", "env": [
            {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "env", "key": "k"}}}]}]}}
    theirs = {"metadata": {"name": "theirs"}, "spec": {
        "nodeName": other, "volumes": [{"name": "v", "configMap": {"name": "theirs"}}],
        "containers": [{"name": "c", "image": "busybox"}]}}
    for pod in (mine, theirs):
        assert apiserver.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)[0] == 201
    for name in ("vol", "ca", "env", "from"):
        assert as_user(apiserver, token, "GET", f"{configmaps}/{name}")[0] == 200, name
    for path in (f"{configmaps}/theirs", f"{configmaps}/unused", configmaps,
                 f"{configmaps}?watch=1", "/api/v1/configmaps"):
        status, body = as_user(apiserver, token, "GET", path)
        assert status == 403 and f'User "system:node:{node}"' in body["message"], path


def _token_request(server: ApiServer, ns: str, account: str, spec: dict[str, Any]
                   ) -> tuple[int, Any]:
    return server.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{account}/token",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": spec})


def _wait_status(server: ApiServer, token: str, want: int, timeout: float = 3) -> None:
    """Until a request with `token` gets `want`: a deletion reaches the api-server's
    credential index with its watch event (milliseconds; the bound is for a loaded
    machine)."""
    deadline = time.monotonic() + timeout
    while as_user(server, token, "GET", DISCOVERY)[0] != want:
        assert time.monotonic() < deadline, f"never {want}"
        time.sleep(0.05)


def test_token_request_lives_with_its_account_and_audience(apiserver: ApiServer) -> None:
    """`kubectl create token`: a token for the api-server's audience works until the
    account goes; one for another audience never works here."""
    name = f"robot-{uuid.uuid4().hex[:6]}"
    status, _ = apiserver.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                                  {"metadata": {"name": name}})
    assert status == 201
    status, got = _token_request(apiserver, "default", name, {"expirationSeconds": 600})
    assert status == 201, got
    assert got["kind"] == "TokenRequest" and got["spec"]["expirationSeconds"] == 600
    expires = got["status"]["expirationTimestamp"]
    assert 590 <= time.mktime(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ")) \
        - time.mktime(time.gmtime()) <= 610
    token = got["status"]["token"]
    assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 200

    status, other = _token_request(apiserver, "default", name, {"audiences": ["vault"]})
    assert status == 201
    assert as_user(apiserver, other["status"]["token"], "GET",
                   DISCOVERY)[0] == 401

    # Deleted and made again under the same name: the old account's tokens stay dead.
    assert apiserver.request(
        "DELETE", f"/api/v1/namespaces/default/serviceaccounts/{name}")[0] == 200
    _wait_status(apiserver, token, 401)
    assert apiserver.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                             {"metadata": {"name": name}})[0] == 201
    assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 401


def test_expired_token_is_refused(apiserver: ApiServer) -> None:
    name = f"robot-{uuid.uuid4().hex[:6]}"
    status, sa = apiserver.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                                   {"metadata": {"name": name}})
    assert status == 201
    key = load_private_key((apiserver.data_dir / "pki" / "sa.key").read_bytes())
    now = int(time.time())
    fresh, stale = (sign_token(key, bound_claims("default", name, sa["metadata"]["uid"],
                                                 [API_AUDIENCE], issued, 600))
                    for issued in (now, now - 601))
    assert as_user(apiserver, fresh, "GET", DISCOVERY)[0] == 200
    assert as_user(apiserver, stale, "GET", DISCOVERY)[0] == 401


@pytest.mark.parametrize("account,spec,code,field", [
    # validated before the account is looked up: "default" need not exist
    ("default", {"expirationSeconds": 10}, 422, "spec.expirationSeconds"),
    ("default", {"expirationSeconds": "1h"}, 422, "spec.expirationSeconds"),
    ("default", {"audiences": [""]}, 422, "spec.audiences"),
    ("default", {"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "p"}}, 422,
     "spec.boundObjectRef"),
    ("nobody-here", {}, 404, None),
])
def test_bad_token_requests(apiserver: ApiServer, account: str, spec: dict[str, Any],
                            code: int, field: str | None) -> None:
    status, got = _token_request(apiserver, "default", account, spec)
    assert status == code, got
    assert got["kind"] == "Status"
    if field:
        assert [c["field"] for c in got["details"]["causes"]] == [field]


def test_kubectl_create_token(apiserver: ApiServer, tmp_path: Path) -> None:
    name = f"robot-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces/default/serviceaccounts",
                             {"metadata": {"name": name}})[0] == 201
    result = apiserver.kubectl(tmp_path, "create", "token", name, "-n", "default",
                      "--duration", "20m")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert as_user(apiserver, token, "GET", DISCOVERY)[0] == 200


def test_kubectl_auth_whoami_and_can_i(apiserver: ApiServer, tmp_path: Path) -> None:
    """Answered by the authenticator and authorizer every request meets: the admin may do
    anything; a node's credentials only what the node authorizer lets a kubelet do."""
    who = apiserver.kubectl(tmp_path, "auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    info = yaml.safe_load(who.stdout)["status"]["userInfo"]
    assert info["username"] == "admin" and "system:masters" in info["groups"]
    assert apiserver.kubectl(tmp_path, "auth", "can-i", "delete", "nodes").stdout \
        .strip() == "yes"

    node = f"n-{uuid.uuid4().hex[:6]}"
    token = new_node_token(node)
    secret = node_credentials_secret(node, token)
    assert apiserver.request("POST", SECRETS, secret)[0] == 201
    who = apiserver.kubectl(tmp_path, "auth", "whoami", "-o", "json", token=token)
    assert who.returncode == 0, who.stderr  # works at once: read from etcd until watched
    assert yaml.safe_load(who.stdout)["status"]["userInfo"]["username"] == f"system:node:{node}"
    for args, answer in ((["get", "pods"], "yes"), (["delete", "nodes"], "no"),
                         (["update", f"nodes/{node}"], "yes"), (["update", "nodes/other"], "no"),
                         (["list", "secrets"], "no")):
        got = apiserver.kubectl(tmp_path, "auth", "can-i", *args, token=token)
        assert got.stdout.split()[0] == answer, (args, got.stdout, got.stderr)


@pytest.mark.parametrize("spec,field", [
    ({}, "spec"),
    ({"resourceAttributes": {"resource": "pods"}}, "spec.resourceAttributes.verb"),
    ({"resourceAttributes": {"verb": "get", "namespace": 7}},
     "spec.resourceAttributes.namespace"),
])
def test_bad_access_reviews(apiserver: ApiServer, spec: dict[str, Any], field: str) -> None:
    status, got = apiserver.request(
        "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
         "spec": spec})
    assert status == 422 and got["kind"] == "Status", got
    assert [c["field"] for c in got["details"]["causes"]] == [field]


def test_a_node_reads_only_the_claims_its_pods_mount(apiserver: ApiServer) -> None:
    node, other, token, ns = _node_and_namespace(apiserver, "pvc")
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    for name in ("mine", "theirs"):
        assert apiserver.request("POST", claims, {"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}})[0] == 201
    for name, where in (("mine", node), ("theirs", other)):
        assert apiserver.request("POST", f"/api/v1/namespaces/{ns}/pods", {
            "metadata": {"name": name}, "spec": {
                "nodeName": where, "containers": [{"name": "c", "image": "busybox"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": name}}]}}
        )[0] == 201
    assert as_user(apiserver, token, "GET", f"{claims}/mine")[0] == 200
    for path in (f"{claims}/theirs", claims, "/api/v1/persistentvolumeclaims"):
        assert as_user(apiserver, token, "GET", path)[0] == 403, path
    assert as_user(apiserver, token, "GET", "/api/v1/persistentvolumes")[0] == 200
