"""Kubeconfig and in-cluster parsing, and the TLS context built from them."""

from __future__ import annotations

import base64
import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minikube_py.client.errors import ConfigError
from minikube_py.client.kubeconfig import ClientConfig, in_cluster_config, load_kubeconfig


def make_cert() -> tuple[bytes, bytes]:
    """A self-signed CA certificate and its key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def pki() -> tuple[bytes, bytes]:
    return make_cert()


def write_config(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any],
                 **ctx_extra: Any) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "main",
        "clusters": [{"name": "other", "cluster": {"server": "https://wrong:1"}},
                     {"name": "c1", "cluster": cluster}],
        "users": [{"name": "u1", "user": user}],
        "contexts": [{"name": "main", "context": {"cluster": "c1", "user": "u1", **ctx_extra}},
                     {"name": "alt", "context": {"cluster": "other", "user": "u1"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_embedded_ca_and_token(tmp_path: Path, pki: tuple[bytes, bytes]) -> None:
    ca, _ = pki
    path = write_config(tmp_path, {"server": "https://127.0.0.1:6443/",
                                   "certificate-authority-data": b64(ca)},
                        {"token": "s3cret"}, namespace="kube-system")
    cfg = load_kubeconfig(path)
    assert cfg.server == "https://127.0.0.1:6443"
    assert cfg.ca_data == ca
    assert cfg.read_token() == "s3cret"
    assert cfg.namespace == "kube-system"
    ctx = cfg.ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert any(c["subject"] == ((("commonName", "test-ca"),),) for c in ctx.get_ca_certs())


def test_files_are_relative_to_the_kubeconfig(tmp_path: Path, pki: tuple[bytes, bytes]) -> None:
    ca, key = pki
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "client.crt").write_bytes(ca)
    (tmp_path / "client.key").write_bytes(key)
    (tmp_path / "token").write_text("from-file\n")
    path = write_config(tmp_path, {"server": "https://h:1", "certificate-authority": "ca.crt"},
                        {"tokenFile": "token", "client-certificate": "client.crt",
                         "client-key": "client.key"})
    cfg = load_kubeconfig(path)
    assert cfg.ca_data == ca and cfg.client_cert_data == ca and cfg.client_key_data == key
    assert cfg.read_token() == "from-file"
    (tmp_path / "token").write_text("rotated")
    assert cfg.read_token() == "rotated", "a token file is re-read (kubelet rotates it)"
    assert cfg.ssl_context() is not None, "client cert and key load into the context"


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"server": "https://h:1", "insecure-skip-tls-verify": True}, {})
    ctx = load_kubeconfig(path).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_named_context_and_plain_http(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"server": "http://127.0.0.1:8080"}, {})
    assert load_kubeconfig(path, context="alt").server == "https://wrong:1"
    assert load_kubeconfig(path).ssl_context() is None


def test_kubeconfig_env_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, {"server": "https://from-env:6443"}, {})
    monkeypatch.setenv("KUBECONFIG", f"{path}:/nonexistent")
    assert load_kubeconfig().server == "https://from-env:6443"


@pytest.mark.parametrize(("cluster", "user", "context", "message"), [
    pytest.param({"server": "https://h:1"}, {}, "nope", "no context named 'nope'",
                 id="unknown-context"),
    pytest.param({"server": "ftp://h"}, {}, None, "no http(s) server", id="bad-server"),
    pytest.param({"server": "https://h:1", "certificate-authority-data": "%%%"}, {}, None,
                 "not valid base64", id="bad-base64"),
    pytest.param({"server": "https://h:1", "certificate-authority": "missing.crt"}, {}, None,
                 "cannot read certificate-authority", id="missing-ca-file"),
])
def test_bad_kubeconfigs_say_what_is_wrong(tmp_path: Path, cluster: dict[str, Any],
                                          user: dict[str, Any], context: str | None,
                                          message: str) -> None:
    path = write_config(tmp_path, cluster, user)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_kubeconfig(path, context=context)


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        load_kubeconfig(tmp_path / "missing")
    (tmp_path / "bad").write_text("{unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_kubeconfig(tmp_path / "bad")


def test_ca_that_is_not_pem() -> None:
    cfg = ClientConfig(server="https://h:1", ca_data=b"not a certificate")
    with pytest.raises(ConfigError, match="not valid PEM"):
        cfg.ssl_context()


def test_client_cert_without_key() -> None:
    cfg = ClientConfig(server="https://h:1", client_cert_data=b"x")
    with pytest.raises(ConfigError, match="without client-key"):
        cfg.ssl_context()


def test_in_cluster(tmp_path: Path, pki: tuple[bytes, bytes]) -> None:
    ca, _ = pki
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "namespace").write_text("team-a")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    cfg = in_cluster_config(env, root=tmp_path)
    assert cfg.server == "https://10.96.0.1:443"
    assert cfg.read_token() == "sa-token" and cfg.ca_data == ca and cfg.namespace == "team-a"
    v6 = in_cluster_config({**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}, root=tmp_path)
    assert v6.server == "https://[fd00::1]:443"


def test_not_in_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster_config({}, root=tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match="does not exist"):
        in_cluster_config(env, root=tmp_path)
