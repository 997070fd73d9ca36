"""Service accounts against a real api-server: a `default` account and the
kube-root-ca.crt ConfigMap in every namespace, no token Secret made by itself, a
requested one filled with a signed token (verifiable with the public key) and removed
with its account; and, where the api-server keeps D/pki/sa.key, the token
authenticates as the account."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.api.resources import CONFIGMAPS, PODS, SECRETS, SERVICEACCOUNTS, Resource
from minikube_py.api.sa_token import verify_token
from minikube_py.client import ApiClient
from minikube_py.client.errors import Forbidden, NotFound, Unauthorized
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ControlPlane
from tests.helpers import eventually, scratch_namespace


def _key_pair(tmp_path: Path) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "sa.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public


async def _start(apiserver: ApiServer, key_file: Path) -> tuple[ApiClient, ControlPlane]:
    client = ApiClient.from_kubeconfig(apiserver.kubeconfig)
    settings = replace(ControllerManagerSettings(leader_election=None),
                       controllers=("serviceaccount", "serviceaccount-token",
                                    "root-ca-cert-publisher"),
                       service_account_private_key_file=str(key_file),
                       root_ca_file=str(apiserver.ca_file))
    return client, ControlPlane(client, settings, scheduler=False)


@pytest.fixture
async def namespace(apiserver: ApiServer) -> AsyncIterator[str]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "sa") as name:
        yield name


async def _token_secret(client: ApiClient, ns: str, account: str) -> dict[str, Any] | None:
    for secret in (await client.list(SECRETS, ns))["items"]:
        annotations = secret["metadata"].get("annotations") or {}
        if (secret.get("type") == "kubernetes.io/service-account-token"
                and annotations.get("kubernetes.io/service-account.name") == account
                and (secret.get("data") or {}).get("token")):
            found: dict[str, Any] = secret
            return found
    return None


def _requested(name: str, account: str) -> dict[str, Any]:
    """A legacy token Secret asked for by hand (Kubernetes >= 1.24 makes none by itself)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": name,
                         "annotations": {"kubernetes.io/service-account.name": account}}}


async def test_default_account_no_automatic_token_and_requested_ones_filled(
        apiserver: ApiServer, namespace: str, tmp_path: Path) -> None:
    key_file, public = _key_pair(tmp_path)
    client, cp = await _start(apiserver, key_file)
    try:
        async with cp:
            sa = await eventually(lambda: _get(client, SERVICEACCOUNTS, "default", namespace))
            root_ca = await eventually(lambda: _get(client, CONFIGMAPS, "kube-root-ca.crt",
                                                    namespace))
            assert root_ca["data"]["ca.crt"] == apiserver.ca_file.read_text()
            await client.create(SECRETS, _requested("default-token", "default"), namespace)
            secret = await eventually(lambda: _token_secret(client, namespace, "default"))
            assert secret["metadata"]["name"] == "default-token"  # the only one
            token = base64.b64decode(secret["data"]["token"]).decode()
            claims = verify_token(public, token)
            assert claims is not None
            assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
            assert claims["kubernetes.io/serviceaccount/service-account.uid"] == \
                sa["metadata"]["uid"]
            assert base64.b64decode(secret["data"]["namespace"]).decode() == namespace
            assert base64.b64decode(secret["data"]["ca.crt"]) == apiserver.ca_file.read_bytes()
            assert verify_token(_key_pair(tmp_path / "..")[1], token) is None  # other key

            await client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                  "metadata": {"name": "robot"}}, namespace)
            await client.create(SECRETS, _requested("robot-token", "robot"), namespace)
            await eventually(lambda: _token_secret(client, namespace, "robot"))
            await client.delete(SERVICEACCOUNTS, "robot", namespace)
            await eventually(lambda: _gone(client, SECRETS, "robot-token", namespace))
            assert [s["metadata"]["name"] for s in (await client.list(SECRETS, namespace))[
                "items"]] == ["default-token"]
    finally:
        await client.close()


async def test_api_server_accepts_the_token(apiserver: ApiServer, namespace: str) -> None:
    key_file = Path(apiserver.data_dir) / "pki" / "sa.key"
    client, cp = await _start(apiserver, key_file)
    try:
        async with cp:
            # As a user would: the account first (its controller makes it), then its Secret;
            # a token Secret naming an account that does not exist is deleted, as Kubernetes'.
            await eventually(lambda: _get(client, SERVICEACCOUNTS, "default", namespace))
            await client.create(SECRETS, _requested("default-token", "default"), namespace)
            secret = await eventually(lambda: _token_secret(client, namespace, "default"))
        token = base64.b64decode(secret["data"]["token"]).decode()
        async with ApiClient(apiserver.url, token=token, ca_file=apiserver.ca_file) as as_sa:
            await as_sa.request("GET", "/api")  # 401 would raise (discovery: any user)
            with pytest.raises(Forbidden):  # authenticated, but RBAC grants it nothing
                await as_sa.list(PODS, namespace)
        async with ApiClient(apiserver.url, token=token[:-4] + "AAAA",
                             ca_file=apiserver.ca_file) as forged:
            with pytest.raises(Unauthorized):
                await forged.request("GET", "/api")
    finally:
        await client.close()


async def _get(client: ApiClient, resource: Resource, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return await client.get(resource, name, ns)
    except NotFound:
        return None


async def _gone(client: ApiClient, resource: Resource, name: str, ns: str) -> bool:
    return await _get(client, resource, name, ns) is None
