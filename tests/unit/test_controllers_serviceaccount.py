"""Service accounts: a `default` account per live namespace, and requested token Secrets
filled, tied to their account and gone with it (Kubernetes'
serviceaccounts_controller_test.go and tokens_controller_test.go, over our
fake client)."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.api.resources import SECRETS, SERVICEACCOUNTS
from minikube_py.api.sa_token import NAME_CLAIM, SECRET_CLAIM, UID_CLAIM, verify_token
from minikube_py.api.secret import SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN
from minikube_py.client.errors import ApiError, NotFound, ServerError
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
from tests.fixtures.queues import recorded

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


def hand_made(uid: str | None = None, token: str | None = None) -> JsonDict:
    """A token Secret someone created for BUILD (no token yet, maybe no uid)."""
    made = token_secret("made-by-hand", BUILD, token=token)
    if uid is None:
        del made["metadata"]["annotations"][UID_ANNOTATION]
    else:
        made["metadata"]["annotations"][UID_ANNOTATION] = uid
    return made


@pytest.mark.parametrize("uid", [pytest.param(None, id="without the account's uid"),
                                 pytest.param(BUILD["metadata"]["uid"], id="with its uid")])
async def test_a_requested_token_secret_is_filled_and_tied_to_its_account(
        tokens: tuple[TokenController, FakeClient], signing_key: rsa.RSAPrivateKey,
        uid: str | None) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    fill(c.secrets, hand_made(uid))
    await c.sync("ns/made-by-hand")
    assert client.summary() == [("patch", "secrets", "made-by-hand")]
    body = client.writes[0].body
    assert body["metadata"]["annotations"] == {UID_ANNOTATION: BUILD["metadata"]["uid"]}
    data = body["data"]
    assert decoded(data, "namespace") == "ns"
    assert decoded(data, "ca.crt") == "-----BEGIN CERTIFICATE-----\n"
    claims = verify_token(public(signing_key), decoded(data, "token"))
    assert claims is not None
    assert (claims[NAME_CLAIM], claims[UID_CLAIM], claims[SECRET_CLAIM]) == (
        "build", BUILD["metadata"]["uid"], "made-by-hand")


async def test_a_filled_token_is_left_as_it_is(
        tokens: tuple[TokenController, FakeClient]) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    fill(c.secrets, token_secret("build-token-a", BUILD))
    await c.sync("ns/build-token-a")
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
    await c.sync("ns/build-token-a")
    assert client.summary() == ([("delete", "secrets", "build-token-a")] if deleted else [])


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
    await c.sync("ns/build-token-a")
    assert client.writes == []


@pytest.mark.parametrize(("error", "raised"), [
    pytest.param(ServerError, True, id="a failed fill is retried"),
    pytest.param(NotFound, False, id="a secret deleted meanwhile is not an error"),
])
async def test_fill_failures(tokens: tuple[TokenController, FakeClient],
                             error: type[ApiError], raised: bool) -> None:
    c, client = tokens
    fill(c.accounts, BUILD)
    fill(c.secrets, hand_made())
    client.fail("patch", SECRETS, error=error)
    if raised:
        with pytest.raises(error):
            await c.sync("ns/made-by-hand")
    else:
        await c.sync("ns/made-by-hand")


async def test_the_signing_key_is_read_from_the_file_settings_name(
        signing_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "sa.key"
    path.write_bytes(signing_key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    c, client = start(TokenController, BUILD, hand_made(), settings=replace(
        ControllerManagerSettings(), service_account_private_key_file=str(path)))
    await c.sync("ns/made-by-hand")
    data = client.writes[0].body["data"]
    assert verify_token(public(signing_key), decoded(data, "token")) is not None
    assert "ca.crt" not in data  # no root CA file, no ca.crt


# -- what informer events queue -------------------------------------------------------------

def test_namespaces_and_deleted_default_accounts_queue_their_namespace() -> None:
    c, _ = start(ServiceAccountController)
    c.namespaces.apply("ADDED", namespace("ns"))
    c.accounts.apply("ADDED", serviceaccount("default", "other"))
    c.accounts.apply("DELETED", serviceaccount("default", "other"))
    assert recorded(c.queue).added == ["ns", "other"]


TOKEN = token_secret("build-token-a", BUILD)


@pytest.mark.parametrize(
    ("cached", "event", "queued"),
    [
        pytest.param([], ("accounts", "ADDED", BUILD), [],
                     id="an account gets no token Secret by itself (Kubernetes >= 1.24)"),
        pytest.param([], ("secrets", "ADDED", TOKEN), ["ns/build-token-a"],
                     id="a secret is looked at for its account"),
        pytest.param([TOKEN], ("secrets", "DELETED", TOKEN), [],
                     id="a deleted token is not made again"),
        pytest.param([BUILD, TOKEN], ("accounts", "DELETED", BUILD), ["ns/build-token-a"],
                     id="a deleted account queues its tokens to be deleted"),
    ],
)
def test_events_queue_accounts_and_tokens(tokens: tuple[TokenController, FakeClient],
                                          cached: list[JsonDict],
                                          event: tuple[str, str, JsonDict],
                                          queued: list[str]) -> None:
    c, _ = tokens
    fill(c.accounts, *(o for o in cached if o["kind"] == "ServiceAccount"))
    fill(c.secrets, *(o for o in cached if o["kind"] == "Secret"))
    informer, kind, obj = event
    getattr(c, informer).apply(kind, obj)
    assert recorded(c.queue).added == queued
