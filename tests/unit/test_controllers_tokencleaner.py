"""Token cleaner: an expired bootstrap token's Secret in kube-system is deleted (uid
precondition); one not yet expired is looked at again when it expires; anything else is
left alone."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.api.resources import SECRETS
from minikube_py.client import ApiClient
from minikube_py.controllers.pods import format_time
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.controllers.tokencleaner import TokenCleaner
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

NOW = 1_800_000_000.0
BOOTSTRAP = "bootstrap.kubernetes.io/token"


def token(expires_in: float | None, *, namespace: str = "kube-system",
          type: str = BOOTSTRAP) -> dict[str, Any]:
    data = {"token-id": "abcdef", "token-secret": "0123456789abcdef"}
    if expires_in is not None:
        data["expiration"] = format_time(NOW + expires_in)
    return builders.secret("bootstrap-token-abcdef", namespace, type=type, data=data)


@pytest.mark.parametrize(("secret", "deletes"), [
    pytest.param(token(-1), True, id="expired"),
    pytest.param(token(3600), False, id="live"),
    pytest.param(token(None), False, id="no-expiration"),
    pytest.param(token(-1, namespace="default"), False, id="other-namespace"),
    pytest.param(token(-1, type="Opaque"), False, id="not-a-bootstrap-token"),
])
async def test_expired_bootstrap_tokens_are_deleted(secret: dict[str, Any],
                                                    deletes: bool) -> None:
    client = FakeClient()
    client.put(SECRETS, secret)
    c = TokenCleaner(cast(ApiClient, client), ControllerManagerSettings())
    c.clock = lambda: NOW
    fill(c.secrets, secret)
    await c.sync(f"{secret['metadata']['namespace']}/bootstrap-token-abcdef")
    writes = [w for w in client.writes if w.verb == "delete"]
    assert bool(writes) is deletes
    if deletes:
        assert writes[0].body["preconditions"] == {"uid": secret["metadata"]["uid"]}


async def test_a_live_token_is_looked_at_again_when_it_expires(
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    c = TokenCleaner(cast(ApiClient, client), ControllerManagerSettings())
    c.clock = lambda: NOW
    later: list[tuple[object, float]] = []
    monkeypatch.setattr(c.queue, "add_after", lambda key, s: later.append((key, s)))
    fill(c.secrets, token(120))
    await c.sync("kube-system/bootstrap-token-abcdef")
    assert not client.writes
    assert later == [("kube-system/bootstrap-token-abcdef", 120.0)]
