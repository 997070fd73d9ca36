"""The kubelet's token manager: one TokenRequest per pod and audience while the token is
fresh, another once it has lived 80% of its life, none after the pod is forgotten."""

from __future__ import annotations

from typing import Any

import pytest

from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.source import DictSource
from agent.kubelet.tokens import TokenManager
from minikube_py.api.resources import SERVICEACCOUNTS

POD = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
       "spec": {"serviceAccountName": "robot"}}


def manager() -> tuple[TokenManager, DictSource, list[float]]:
    source = DictSource([(SERVICEACCOUNTS, {"metadata": {"name": "robot", "namespace": "ns"}})])
    now = [1000.0]
    return TokenManager(source, clock=lambda: now[0]), source, now


async def test_a_token_is_kept_until_80_percent_of_its_life() -> None:
    tokens, source, now = manager()
    projection = {"expirationSeconds": 1000, "path": "token"}
    assert await tokens.token(POD, projection) == b"token-ns-robot-1"
    now[0] += 799
    assert await tokens.token(POD, projection) == b"token-ns-robot-1"
    now[0] += 2
    assert await tokens.token(POD, projection) == b"token-ns-robot-2"
    assert await tokens.token(POD, {**projection, "audience": "vault"}) == b"token-ns-robot-3"
    tokens.forget("u1")
    assert await tokens.token(POD, projection) == b"token-ns-robot-4"
    assert source.tokens_issued == 4


async def test_the_request_is_bound_to_the_pod() -> None:
    tokens, source, _ = manager()
    asked: list[dict[str, Any]] = []
    real = source.token

    async def spy(namespace: str, account: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        asked.append(spec)
        return await real(namespace, account, spec)
    source.token = spy  # type: ignore[method-assign]  # a spy around the real one
    await tokens.token(POD, {"audience": "vault", "expirationSeconds": 3607})
    assert asked == [{"audiences": ["vault"], "expirationSeconds": 3607, "boundObjectRef": {
        "kind": "Pod", "apiVersion": "v1", "name": "web", "uid": "u1"}}]


async def test_a_missing_account_is_a_config_error() -> None:
    tokens, _, _ = manager()
    with pytest.raises(ContainerConfigError):
        await tokens.token({**POD, "spec": {"serviceAccountName": "ghost"}}, {})
