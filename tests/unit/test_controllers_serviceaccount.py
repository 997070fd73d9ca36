"""Service accounts: a `default` account per live namespace, and a signed token
Secret per account that goes with its account (Kubernetes'
serviceaccounts_controller_test.go and tokens_controller_test.go, over our
fake client)."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.api.resources import SECRETS, SERVICEACCOUNTS, Resource
from minikube_py.api.sa_token import NAME_CLAIM, SECRET_CLAIM, UID_CLAIM, verify_token
from minikube_py.api.secret import SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN
from minikube_py.client.errors import AlreadyExists, ApiError, Conflict, NotFound, ServerError
from minikube_py.controllers.serviceaccount import (
    UID_ANNOTATION,
    ServiceAccountController,
    TokenController,
)
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.builders import T0, JsonDict, namespace, secret, serviceaccount
from tests.fixtures.caches import fill
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient

# -- the default ServiceAccount -----------------------------------------------------------


@pytest.mark.parametrize(
    ("namespaces", "accounts", "created"),
    [
        pytest.param([namespace("ns")], [], True,
                     id="an active namespace without a default account gets one"),
        pytest.param([namespace("ns")], [serviceaccount("build", "ns")], True,
                     id="other accounts are not the default one"),
        pytest.param([namespace("ns")], [serviceaccount("default", "ns")], False,
                     id="an existing default account is kept"),
        pytest.param([namespace("ns", deletion_timestamp=T0)], [], False,
                     id="a terminating namespace gets none"),
        pytest.param([], [], False, id="a deleted namespace gets none"),
        pytest.param([namespace("ns")], [serviceaccount("default", "other")], True,
                     id="the default account of another namespace does not count"),
    ],
)
async def test_default_account(namespaces: list[JsonDict], accounts: list[JsonDict],
                               created: bool) -> None:
    c, client = start(ServiceAccountController, *namespaces, *accounts)
    await c.sync("ns")
    assert client.summary() == ([("create", "serviceaccounts", "default")] if created else [])
    if created:
        assert client.writes[0].namespace == "ns"
        assert client.writes[0].body["metadata"] == {"name": "default", "namespace": "ns"}


async def test_default_account_created_meanwhile_is_not_an_error() -> None:
    c, client = start(ServiceAccountController, namespace("ns"),
                      live=[serviceaccount("default", "ns")])  # the cache is behind
    await c.sync("ns")
    assert client.writes == []


async def test_default_account_create_failure_is_retried() -> None:
    c, client = start(ServiceAccountController, namespace("ns"))
    client.fail("create", SERVICEACCOUNTS)
    with pytest.raises(ServerError):
        await c.sync("ns")


# -- token Secrets ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def tokens(signing_key: rsa.RSAPrivateKey, tmp_path: Path
           ) -> tuple[TokenController, FakeClient]:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    c, client = start(TokenController,
                      settings=replace(ControllerManagerSettings(), root_ca_file=str(ca)))
    c.key = signing_key  # loading it from a file costs a key check per test
    return c, client


def public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def token_secret(name: str, account: JsonDict, *, uid: str | None = None,
                 token: str | None = "t") -> JsonDict:
    """A token Secret of `account` (or of an account of the same name with `uid`)."""
    meta = account["metadata"]
    return secret(name, meta["namespace"], type=SERVICE_ACCOUNT_TOKEN,
                  data={"token": token} if token else None,
                  annotations={SERVICE_ACCOUNT_NAME_ANNOTATION: meta["name"],
                               UID_ANNOTATION: uid or meta["uid"]})


def decoded(data: dict[str, str], key: str) -> str:
    return base64.b64decode(data[key]).decode()


BUILD = serviceaccount("build", "ns", secrets=["pull-secret"])


async def test_an_account_without_a_token_gets_a_signed_one(
        tokens: tuple[TokenController, FakeClient], signing_key: rsa.RSAPrivateKey) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    await c.sync(("sa", "ns/build"))
    assert [(verb, resource) for verb, resource, _ in client.summary()] == [
        ("create", "secrets"), ("patch", "serviceaccounts")]
    created, patch = client.writes
    name = created.name
    assert name.startswith("build-token-")
    assert created.body["type"] == SERVICE_ACCOUNT_TOKEN
    assert created.body["metadata"]["annotations"] == {
        SERVICE_ACCOUNT_NAME_ANNOTATION: "build", UID_ANNOTATION: BUILD["metadata"]["uid"]}
    data = created.body["data"]
    assert decoded(data, "namespace") == "ns"
    assert decoded(data, "ca.crt") == "-----BEGIN CERTIFICATE-----\n"
    claims = verify_token(public(signing_key), decoded(data, "token"))
    assert claims is not None
    assert (claims[NAME_CLAIM], claims[UID_CLAIM], claims[SECRET_CLAIM]) == (
        "build", BUILD["metadata"]["uid"], name)
    assert patch.body == {"secrets": [{"name": "pull-secret"}, {"name": name}]}


@pytest.mark.parametrize(
    ("secrets", "created"),
    [
        pytest.param([token_secret("build-token-a", BUILD)], False,
                     id="an account with its token gets no other"),
        pytest.param([token_secret("build-token-a", BUILD, uid="uid-of-a-deleted-build")],
                     True, id="a token of an earlier account of that name does not count"),
        pytest.param([secret("build-token-a", "ns", annotations={
            SERVICE_ACCOUNT_NAME_ANNOTATION: "build", UID_ANNOTATION: BUILD["metadata"]["uid"]})],
                     True, id="an Opaque secret is no token"),
    ],
)
async def test_one_token_per_account(tokens: tuple[TokenController, FakeClient],
                                     secrets: list[JsonDict], created: bool) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    fill(c.secrets, *secrets)
    await c.sync(("sa", "ns/build"))
    assert [(verb, resource) for verb, resource, _ in client.summary()] == (
        [("create", "secrets"), ("patch", "serviceaccounts")] if created else [])


async def test_a_deleted_account_gets_no_token(
        tokens: tuple[TokenController, FakeClient]) -> None:
    c, client = tokens
    await c.sync(("sa", "ns/build"))
    assert client.writes == []


@pytest.mark.parametrize(
    ("cached", "live", "deleted"),
    [
        pytest.param(BUILD, None, False, id="a token of a cached account is kept"),
        pytest.param(None, BUILD, False,
                     id="a token of an account the cache has not seen yet is kept"),
        pytest.param(None, None, True, id="a token whose account is gone is deleted"),
        pytest.param(serviceaccount("build", "ns", uid="uid-new"), None, True,
                     id="a token of an account deleted and created again is deleted"),
    ],
)
async def test_tokens_go_with_their_account(tokens: tuple[TokenController, FakeClient],
                                            cached: JsonDict | None, live: JsonDict | None,
                                            deleted: bool) -> None:
    c, client = tokens
    fill(c.secrets, token_secret("build-token-a", BUILD))
    if cached is not None:
        fill(c.accounts, cached)
    if live is not None:
        client.put(SERVICEACCOUNTS, live)
    await c.sync(("secret", "ns/build-token-a"))
    assert client.summary() == ([("delete", "secrets", "build-token-a")] if deleted else [])


async def test_a_token_secret_without_a_token_is_filled(
        tokens: tuple[TokenController, FakeClient], signing_key: rsa.RSAPrivateKey) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    fill(c.secrets, token_secret("made-by-hand", BUILD, token=None))
    await c.sync(("secret", "ns/made-by-hand"))
    assert client.summary() == [("patch", "secrets", "made-by-hand")]
    claims = verify_token(public(signing_key), decoded(client.writes[0].body["data"], "token"))
    assert claims is not None and claims[SECRET_CLAIM] == "made-by-hand"


@pytest.mark.parametrize(
    "secrets",
    [
        pytest.param([], id="a deleted secret is nothing to do"),
        pytest.param([secret("build-token-a", "ns")], id="other secrets are not ours"),
    ],
)
async def test_secrets_that_are_not_tokens_are_left_alone(
        tokens: tuple[TokenController, FakeClient], secrets: list[JsonDict]) -> None:
    c, client = tokens
    fill(c.secrets, *secrets)
    await c.sync(("secret", "ns/build-token-a"))
    assert client.writes == []


@pytest.mark.parametrize(
    ("verb", "resource", "error", "raised"),
    [
        pytest.param("create", SECRETS, ServerError, True,
                     id="a failed token create is retried"),
        pytest.param("create", SECRETS, AlreadyExists, True,
                     id="a name taken by chance is retried under another"),
        pytest.param("patch", SERVICEACCOUNTS, NotFound, False,
                     id="an account deleted before it lists its token is not an error"),
        pytest.param("patch", SERVICEACCOUNTS, Conflict, False,
                     id="an account changed meanwhile keeps its token unlisted"),
    ],
)
async def test_token_write_failures(tokens: tuple[TokenController, FakeClient], verb: str,
                                    resource: Resource, error: type[ApiError],
                                    raised: bool) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    client.fail(verb, resource, error=error)
    if raised:
        with pytest.raises(error):
            await c.sync(("sa", "ns/build"))
    else:
        await c.sync(("sa", "ns/build"))
        assert [(v, r) for v, r, _ in client.summary()] == [("create", "secrets")]



async def test_the_signing_key_is_read_from_the_file_settings_name(
        signing_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "sa.key"
    path.write_bytes(signing_key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    c, client = start(TokenController, BUILD, settings=replace(
        ControllerManagerSettings(), service_account_private_key_file=str(path)))
    await c.sync(("sa", "ns/build"))
    data = client.writes[0].body["data"]
    assert verify_token(public(signing_key), decoded(data, "token")) is not None
    assert "ca.crt" not in data  # no root CA file, no ca.crt


# -- what informer events queue -------------------------------------------------------------

def test_namespaces_and_deleted_default_accounts_queue_their_namespace() -> None:
    c, _ = start(ServiceAccountController)
    c.namespaces.apply("ADDED", namespace("ns"))
    c.accounts.apply("ADDED", serviceaccount("default", "other"))
    c.accounts.apply("DELETED", serviceaccount("default", "other"))
    assert c.queue.added == ["ns", "other"]


TOKEN = token_secret("build-token-a", BUILD)


@pytest.mark.parametrize(
    ("cached", "event", "queued"),
    [
        pytest.param([], ("accounts", "ADDED", BUILD), [("sa", "ns/build")],
                     id="an account is looked at for its token"),
        pytest.param([], ("secrets", "ADDED", TOKEN), [("secret", "ns/build-token-a")],
                     id="a secret is looked at for its account"),
        pytest.param([TOKEN], ("secrets", "DELETED", TOKEN), [("sa", "ns/build")],
                     id="a deleted token queues its account for a new one"),
        pytest.param([BUILD, TOKEN], ("accounts", "DELETED", BUILD),
                     [("secret", "ns/build-token-a")],
                     id="a deleted account queues its tokens to be deleted"),
    ],
)
def test_events_queue_accounts_and_tokens(tokens: tuple[TokenController, FakeClient],
                                          cached: list[JsonDict],
                                          event: tuple[str, str, JsonDict],
                                          queued: list[tuple[str, str]]) -> None:
    c, _ = tokens
    fill(c.accounts, *(o for o in cached if o["kind"] == "ServiceAccount"))
    fill(c.secrets, *(o for o in cached if o["kind"] == "Secret"))
    informer, kind, obj = event
    getattr(c, informer).apply(kind, obj)
    assert c.queue.added == queued
