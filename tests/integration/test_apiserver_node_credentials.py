"""What a bootstrap token buys against a real api-server: exactly one node's credential
and kubelet serving certificate, for a name no Node has, signed by the cluster CA only
with what a node may claim; and TokenReview, which kubelets ask about their callers."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube_py.cluster.tokens import (
    SERVING_CERT,
    new_node_token,
    new_token,
    node_credentials_secret,
    serving_request,
    token_secret,
)
from tests.fixtures.apiserver import ApiServer, as_user

SECRETS = "/api/v1/namespaces/kube-system/secrets"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def _bootstrap(apiserver: ApiServer) -> str:
    token = new_token()
    assert apiserver.request("POST", SECRETS, token_secret(token, timedelta(hours=1)))[0] == 201
    return token


def _node() -> str:
    return f"nc-{uuid.uuid4().hex[:6]}"


def test_join_gets_a_serving_certificate_for_its_name_and_address(
        apiserver: ApiServer) -> None:
    node, token = _node(), _bootstrap(apiserver)
    key_pem, csr = serving_request(node, ["192.0.2.7"])
    status, created = as_user(apiserver, token, "POST", SECRETS,
                              node_credentials_secret(node, new_node_token(node), csr))
    assert status == 201, created
    assert "kubelet-serving.csr" not in created["data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(created["data"][SERVING_CERT]))
    ca = x509.load_pem_x509_certificate(apiserver.ca_file.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == f"O=system:nodes,CN=system:node:{node}"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [node]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert b"PRIVATE KEY" in key_pem


def test_a_bootstrap_token_is_spent_by_its_node(apiserver: ApiServer) -> None:
    token = _bootstrap(apiserver)
    first, second = _node(), _node()
    assert as_user(apiserver, token, "POST", SECRETS,
                   node_credentials_secret(first, new_node_token(first)))[0] == 201
    token_id = token.split(".")[0]
    assert apiserver.request("GET", f"{SECRETS}/bootstrap-token-{token_id}")[0] == 404
    status, body = as_user(apiserver, token, "POST", SECRETS,
                           node_credentials_secret(second, new_node_token(second)))
    assert status in (401, 403), body  # 403 in the moment before the deletion is watched
    assert apiserver.request("GET", f"{SECRETS}/node-credentials-{second}")[0] == 404


def test_a_bootstrap_token_may_not_claim_an_existing_node(apiserver: ApiServer) -> None:
    node, token = _node(), _bootstrap(apiserver)
    assert apiserver.request("POST", "/api/v1/nodes", {"metadata": {"name": node}})[0] == 201
    status, body = as_user(apiserver, token, "POST", SECRETS,
                           node_credentials_secret(node, new_node_token(node)))
    assert status == 403, body
    assert f'node "{node}" already exists' in body["message"]
    token_id = token.split(".")[0]  # a refused claim does not spend the token
    assert apiserver.request("GET", f"{SECRETS}/bootstrap-token-{token_id}")[0] == 200


def _csr(common: str, orgs: list[str], dns: list[str], *, key: Any = None) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                         *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(d) for d in dns]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)


@pytest.mark.parametrize(("common", "orgs", "dns", "why"), [
    pytest.param("system:node:{other}", ["system:nodes"], [], "subject", id="other-node"),
    pytest.param("system:node:{node}", ["system:masters"], [], "subject", id="masters"),
    pytest.param("system:node:{node}", ["system:nodes"], ["kubernetes.default"],
                 "DNS names", id="api-server-name"),
])
def test_only_what_a_node_may_claim_is_signed(apiserver: ApiServer, common: str,
                                              orgs: list[str], dns: list[str],
                                              why: str) -> None:
    node = _node()
    csr = _csr(common.format(node=node, other="someone"), orgs, dns)
    status, body = as_user(apiserver, apiserver.token, "POST", SECRETS,
                           node_credentials_secret(node, new_node_token(node), csr))
    assert status == 422 and body["reason"] == "Invalid", body
    cause = body["details"]["causes"][0]
    assert cause["field"] == "data[kubelet-serving.csr]" and why in cause["message"]
    status, body = as_user(apiserver, apiserver.token, "POST", SECRETS,
                           node_credentials_secret(node, new_node_token(node), b"junk"))
    assert status == 422 and "not a PEM" in body["message"], body


def test_token_review_says_who_a_token_is(apiserver: ApiServer) -> None:
    node = _node()
    node_token = new_node_token(node)
    assert apiserver.request("POST", SECRETS,
                             node_credentials_secret(node, node_token))[0] == 201
    review: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1",
                              "kind": "TokenReview", "spec": {"token": apiserver.token}}
    status, got = as_user(apiserver, node_token, "POST", TOKEN_REVIEWS, review)  # a kubelet
    assert status == 201, got
    assert got["status"]["authenticated"] is True
    assert got["status"]["user"]["username"] == "admin"
    assert "system:masters" in got["status"]["user"]["groups"]
    review["spec"]["token"] = "mkpnode:nope:00"
    status, got = as_user(apiserver, apiserver.token, "POST", TOKEN_REVIEWS, review)
    assert status == 201 and got["status"]["authenticated"] is False, got
    status, got = as_user(apiserver, apiserver.token, "POST", TOKEN_REVIEWS, {"spec": {}})
    assert status == 422 and got["details"]["causes"][0]["field"] == "spec.token", got


def test_token_review_needs_create_tokenreviews(apiserver: ApiServer) -> None:
    token = _bootstrap(apiserver)  # authenticated, but only to join
    status, got = as_user(apiserver, token, "POST", TOKEN_REVIEWS,
                          {"spec": {"token": apiserver.token}})
    assert status == 403, got
    assert 'cannot create resource "tokenreviews"' in got["message"]


@pytest.mark.parametrize(("name", "ip", "why"), [
    pytest.param("kubernetes.default.svc", "192.0.2.8", "a name of the api-server", id="name"),
    pytest.param(None, "10.96.0.1", "the api-server's", id="service-ip"),
    pytest.param(None, "127.0.0.1", "the api-server's", id="loopback"),
    pytest.param(None, "192.0.2.9", "is node nc-owner-", id="another-nodes"),
])
def test_a_serving_certificate_is_never_one_for_the_api_server_or_another_node(
        apiserver: ApiServer, name: str | None, ip: str, why: str) -> None:
    """Clients of the api-server trust the same CA: a node (any holder of a bootstrap
    token) with a certificate for the service address, kubernetes.default.svc or another
    node's address (the control plane's) could answer in its place."""
    owner = f"nc-owner-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/nodes", {"metadata": {"name": owner}})[0] == 201
    assert apiserver.request("PATCH", f"/api/v1/nodes/{owner}/status", {"status": {
        "addresses": [{"type": "InternalIP", "address": "192.0.2.9"}]}},
        content_type="application/merge-patch+json")[0] == 200
    node, token = name or _node(), _bootstrap(apiserver)
    try:
        csr = serving_request(node, [ip])[1]
        status, body = as_user(apiserver, token, "POST", SECRETS,
                               node_credentials_secret(node, new_node_token(node), csr))
        assert status == 422 and why in body["details"]["causes"][0]["message"], body
    finally:
        apiserver.request("DELETE", f"/api/v1/nodes/{owner}")
        apiserver.request("DELETE", f"{SECRETS}/node-credentials-{node}")
