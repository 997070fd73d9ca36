"""The token cleaner against a real api-server: a bootstrap token whose expiration
passes is deleted by the controller-manager, acting as kube-system:token-cleaner with
only its Role in kube-system (as Kubernetes' namespace policy); a live one stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from minikube_py.api.resources import SECRETS
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.client.tasks import background
from minikube_py.cluster import tokens
from minikube_py.controllers.manager import run_controllers
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.helpers import eventually


async def test_expired_tokens_are_deleted_live_ones_stay(apiserver: Any) -> None:
    short, long = tokens.new_token(), tokens.new_token()
    settings = ControllerManagerSettings(leader_election=None, controllers=("tokencleaner",),
                                         use_service_account_credentials=True)
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            background(run_controllers(client, settings), "controllers"):
        await client.create(SECRETS, tokens.token_secret(short, timedelta(seconds=2)))
        await client.create(SECRETS, tokens.token_secret(long, timedelta(hours=1)))
        names = [f"bootstrap-token-{tokens.parse_token(t)[0]}" for t in (short, long)]

        async def gone() -> bool:
            try:
                await client.get(SECRETS, names[0], "kube-system")
            except NotFound:
                return True
            return False
        await eventually(gone, timeout=20, what="the expired token deleted")
        assert (await client.get(SECRETS, names[1], "kube-system"))["metadata"]["name"] == \
            names[1]
        await client.delete(SECRETS, names[1], "kube-system")
