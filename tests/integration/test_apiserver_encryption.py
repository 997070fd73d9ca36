"""Secrets at rest: a real api-server on a real etcd, read back raw from etcd."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube_py.store import Storage
from tests.fixtures.apiserver import CLI, ApiServer
from tests.fixtures.etcd import EtcdCluster

PASSWORD = base64.b64encode(b"hunter2-at-rest").decode()


def secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {"password": PASSWORD}}


async def raw(etcd: EtcdCluster, key: str) -> bytes:
    """What etcd holds, read without the api-server (as `etcdctl get` would)."""
    async with Storage(etcd.urls) as storage:
        return (await storage.get(key)).value


def write_config(path: Path, *providers: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": list(providers)}]}))
    return path


def key(kind: str, name: str, secret_bytes: bytes) -> dict[str, Any]:
    return {kind: {"keys": [{"name": name,
                             "secret": base64.b64encode(secret_bytes).decode()}]}}


def restart(server: ApiServer, config: Path) -> None:
    server.stop()
    if "--encryption-provider-config" in server.extra_args:
        at = server.extra_args.index("--encryption-provider-config")
        del server.extra_args[at:at + 2]
    server.extra_args += ["--encryption-provider-config", str(config)]
    server.start()


def names(server: ApiServer, ns: str) -> list[str]:
    status, body = server.request("GET", f"/api/v1/namespaces/{ns}/secrets")
    assert status == 200, body
    assert isinstance(body, dict)
    return sorted(i["metadata"]["name"] for i in body["items"])


def make_namespace(server: ApiServer, ns: str, count: int) -> None:
    status, body = server.request("POST", "/api/v1/namespaces",
                                  {"metadata": {"name": ns}})
    assert status == 201, body
    for i in range(count):
        status, body = server.request("POST", f"/api/v1/namespaces/{ns}/secrets",
                                      secret(f"s{i}"))
        assert status == 201, body


async def test_secrets_are_ciphertext_in_etcd_by_default(
        etcd: EtcdCluster, apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(etcd_servers=etcd.urls)
    make_namespace(server, "enc", 1)
    stored = await raw(etcd, "/registry/secrets/enc/s0")
    assert stored.startswith(b"k8s:enc:secretbox:v1:key1:")
    assert PASSWORD.encode() not in stored and b"Secret" not in stored
    status, body = server.request("GET", "/api/v1/namespaces/enc/secrets/s0")
    assert status == 200 and isinstance(body, dict) and body["data"]["password"] == PASSWORD
    cm = {"metadata": {"name": "plain"}, "data": {"a": "b"}}
    assert server.request("POST", "/api/v1/namespaces/enc/configmaps", cm)[0] == 201
    assert (await raw(etcd, "/registry/configmaps/enc/plain")).startswith(b"{")
    # The watch (the shared etcd stream) decrypts too.
    status, body = server.request(
        "GET", "/api/v1/namespaces/enc/secrets?watch=1&timeoutSeconds=1&resourceVersion=0")
    assert status == 200 and PASSWORD in str(body)
    config = server.data_dir / "pki" / "encryption-config.yaml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"


async def test_rotation_keeps_every_secret_readable(
        tmp_path: Path, etcd: EtcdCluster, apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(etcd_servers=etcd.urls)
    make_namespace(server, "rot", 30)
    generated = yaml.safe_load((server.data_dir / "pki" / "encryption-config.yaml").read_text())
    old = generated["resources"][0]["providers"][0]
    new_key = os.urandom(32)
    # 1. the new key added first, the old one still there to read with.
    restart(server, write_config(tmp_path / "both.yaml", key("aescbc", "key2", new_key), old))
    assert names(server, "rot") == sorted(f"s{i}" for i in range(30))
    assert (await raw(etcd, "/registry/secrets/rot/s7")).startswith(b"k8s:enc:secretbox:")
    # 2. every Secret rewritten with the new key.
    done = await asyncio.to_thread(
        subprocess.run, [str(CLI), "encryption", "rewrite", "--kubeconfig",
                         str(server.kubeconfig)], capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    assert "secrets: " in done.stdout and " rewritten" in done.stdout
    for i in range(30):
        assert (await raw(etcd, f"/registry/secrets/rot/s{i}")).startswith(
            b"k8s:enc:aescbc:v1:key2:")
    # 3. the old key removed: everything still reads.
    restart(server, write_config(tmp_path / "new.yaml", key("aescbc", "key2", new_key)))
    status, body = server.request("GET", "/api/v1/namespaces/rot/secrets")
    assert status == 200 and isinstance(body, dict)
    assert len(body["items"]) == 30
    assert {i["data"]["password"] for i in body["items"]} == {PASSWORD}


async def test_a_wrong_key_is_a_clear_error_and_the_server_stays_up(
        tmp_path: Path, etcd: EtcdCluster, apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(etcd_servers=etcd.urls)
    make_namespace(server, "wrong", 1)
    restart(server, write_config(tmp_path / "wrong.yaml",
                                 key("secretbox", "key1", os.urandom(32))))
    status, body = server.request("GET", "/api/v1/namespaces/wrong/secrets/s0")
    assert status == 500 and isinstance(body, dict), body
    assert body["reason"] == "InternalError"
    assert 'unable to transform key \'/registry/secrets/wrong/s0\'' in body["message"]
    assert "wrong key" in body["message"]
    assert server.request("GET", "/api/v1/namespaces/wrong/secrets")[0] == 500
    # Everything else works; new Secrets are written and read with the key it has.
    assert server.request("GET", "/readyz", auth=False)[0] == 200
    assert server.request("POST", "/api/v1/namespaces/wrong/secrets", secret("new"))[0] == 201
    assert server.request("GET", "/api/v1/namespaces/wrong/secrets/new")[0] == 200
    assert server.proc is not None and server.proc.poll() is None


@pytest.mark.parametrize("content, message", [
    pytest.param("apiVersion: v1\nkind: Config\n", "apiVersion/kind", id="not-the-kind"),
    pytest.param(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aescbc": {"keys": [{"name": "k", "secret": "c2hvcnQ="}]}}]}]}),
        "resources[0].providers[0].aescbc.keys[0].secret", id="short-key"),
])
def test_an_unusable_config_stops_the_start_with_one_line(tmp_path: Path, content: str,
                                                          message: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(content)
    done = subprocess.run([str(CLI), "apiserver", "--data-dir", str(tmp_path / "d"),
                           "--port", "1", "--encryption-provider-config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
