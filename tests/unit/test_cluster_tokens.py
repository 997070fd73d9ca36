"""Bootstrap tokens, kubeadm's CA hash and node credentials (cluster/tokens.py)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minikube_py.cluster import tokens


def make_ca() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_new_tokens_have_kubeadms_shape_and_differ() -> None:
    made = {tokens.new_token() for _ in range(50)}
    assert len(made) == 50
    for t in made:
        assert tokens.parse_token(t) == tuple(t.split("."))


@pytest.mark.parametrize("bad", [
    pytest.param("", id="empty"),
    pytest.param("abcdef0123456789abcdef", id="no-dot"),
    pytest.param("ABCDEF.0123456789abcdef", id="upper-case"),
    pytest.param("abcde.0123456789abcdef", id="short-id"),
    pytest.param("abcdef.0123456789abcde", id="short-secret"),
    pytest.param("abcdef.0123456789abcdef\n", id="trailing-newline"),
])
def test_malformed_tokens_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="abcdef.0123456789abcdef"):
        tokens.parse_token(bad)


def test_token_secret_is_a_kubernetes_bootstrap_token() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    secret = tokens.token_secret("abcdef.0123456789abcdef", timedelta(hours=2), now=now)
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    data = decoded(secret)
    assert data["token-id"] == "abcdef" and data["token-secret"] == "0123456789abcdef"
    assert data["expiration"] == "2026-01-01T14:00:00Z"
    assert data["usage-bootstrap-authentication"] == "true"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")
def test_ca_hash_matches_kubeadms_openssl_recipe(tmp_path: Path) -> None:
    ca = make_ca()
    (tmp_path / "ca.crt").write_bytes(ca)
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", tmp_path / "ca.crt"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    assert tokens.ca_hash(ca) == "sha256:" + hashlib.sha256(der).hexdigest()


def test_hash_pinning_tells_cas_apart() -> None:
    ca, other = make_ca(), make_ca()
    assert tokens.hash_matches(ca, tokens.ca_hash(ca))
    assert not tokens.hash_matches(other, tokens.ca_hash(ca))


@pytest.mark.parametrize("bad", ["", "sha256:abc", "md5:" + "a" * 64, "a" * 64,
                                 "sha256:" + "g" * 64])
def test_malformed_hashes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="sha256:<64 hex digits>"):
        tokens.parse_hash(bad)


def test_node_credentials_store_only_a_digest_of_the_token() -> None:
    token = tokens.new_node_token("worker-1")
    assert token.startswith("mkpnode:worker-1:")
    secret = tokens.node_credentials_secret("worker-1", token)
    assert secret["metadata"]["name"] == "node-credentials-worker-1"
    assert secret["type"] == "minikube-py.io/node-credentials"
    data = decoded(secret)
    assert data == {"node-name": "worker-1",
                    "token-sha256": hashlib.sha256(token.encode()).hexdigest()}
    assert token.split(":")[-1] not in str(secret)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (86399, "23h"),
    (86400, "1d"), (86400 * 364, "364d"), (86400 * 730, "2y"), (-0.5, "0s"), (-5, "<invalid>")])
def test_short_human_duration(seconds: float, text: str) -> None:
    assert tokens.short_human_duration(seconds) == text


def test_token_list_row_has_kubeadms_columns() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    secret = tokens.token_secret("abcdef.0123456789abcdef", timedelta(hours=24), now=now,
                                 description="for node 3")
    assert tokens.token_row(secret, now + timedelta(minutes=30)) == (
        "abcdef.0123456789abcdef", "23h", "2026-01-02T00:00:00Z", "authentication,signing",
        "for node 3", tokens.EXTRA_GROUPS)
    expired = tokens.token_row(secret, now + timedelta(days=2))
    assert expired is not None and expired[1] == "<invalid>"
    undescribed = tokens.token_secret("abcdef.0123456789abcdef", timedelta(hours=1))
    del undescribed["data"]["expiration"]
    row = tokens.token_row(undescribed, now)
    assert row is not None and row[1:3] == ("<forever>", "<never>") and row[4] == "<none>"
    assert tokens.token_row({"type": "Opaque", "data": secret["data"]}, now) is None
    assert tokens.token_row({"type": tokens.BOOTSTRAP_TYPE, "data": {}}, now) is None
