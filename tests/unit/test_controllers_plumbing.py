"""Controller plumbing: expectations, service-account tokens, --controllers and
durations, Deployment conditions."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.api.sa_token import claims_for, sign_token, verify_token
from minikube_py.cli.flags import parse_duration
from minikube_py.cli.main import main as cli_main
from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.deployment import rollback_requested
from minikube_py.controllers.deployment_status import update_conditions
from minikube_py.controllers.expectations import Expectations
from minikube_py.controllers.manager import CONTROLLERS, selected
from minikube_py.controllers.pods import parse_time


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_expectations_hold_until_observed_or_expired() -> None:
    clock = Clock()
    e = Expectations(ttl=300, clock=clock)
    assert e.satisfied("ns/rs")
    e.expect("ns/rs", adds=2, deletes={"ns/p1"})
    e.creation_observed("ns/rs")
    e.creation_observed("ns/rs")
    assert not e.satisfied("ns/rs")  # the deletion is still outstanding
    e.deletion_observed("ns/rs", "ns/p1")
    assert e.satisfied("ns/rs")
    e.expect("ns/rs", adds=1)
    clock.now = 301
    assert e.satisfied("ns/rs")  # a lost event cannot wedge the controller


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_token_round_trip_and_forgeries(key: rsa.RSAPrivateKey) -> None:
    claims = claims_for("ns", "robot", "uid-1", "robot-token-abcde")
    token = sign_token(key, claims)
    assert verify_token(_public(key), token) == claims
    header, _payload, signature = token.split(".")
    forged = sign_token(key, {**claims, "iss": "someone-else"})
    assert verify_token(_public(key), forged) is None
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert verify_token(_public(other), token) is None
    swapped = ".".join([header, forged.split(".")[1], signature])
    assert verify_token(_public(key), swapped) is None
    assert verify_token(_public(key), "not-a-token") is None


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("*",), list(CONTROLLERS)),
        (("*", "-nodeipam", "-endpoints"),
         [n for n in CONTROLLERS if n not in ("nodeipam", "endpoints")]),
        (("replicaset", "deployment"), ["replicaset", "deployment"]),
    ],
)
def test_selected_controllers(names: tuple[str, ...], expected: list[str]) -> None:
    assert selected(names) == expected


def test_unknown_controller_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown controller 'replicasets'"):
        selected(("replicasets",))


@pytest.mark.parametrize(("text", "seconds"),
                         [("40s", 40), ("5m", 300), ("1m30s", 90), ("500ms", 0.5), ("2", 2),
                          ("1h", 3600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "4x", "m", "1s5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "k"
    kubeconfig.write_text("")
    assert cli_main(["controller-manager", "--kubeconfig", str(kubeconfig),
                     "--controllers", "nope"]) == 1
    assert cli_main(["scheduler", "--kubeconfig", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "unknown controller 'nope'" in err and "no such file" in err
    assert "Traceback" not in err


def _deployment(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "d", "generation": 2},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 10}, "status": status}


def test_conditions_never_edit_the_cached_status() -> None:
    cached = {"conditions": [{"type": "Progressing", "status": "True",
                              "reason": "ReplicaSetUpdated",
                              "lastUpdateTime": "2026-01-01T00:00:00Z"}]}
    d = _deployment(copy.deepcopy(cached))
    status = du.calculate_status(d, [], None)
    update_conditions(d, status, "rs", created_new_rs=False, now=parse_time(
        "2026-01-01T00:01:00Z"))
    assert d["status"] == cached
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ProgressDeadlineExceeded"


def test_progress_resets_the_deadline() -> None:
    d = _deployment({"updatedReplicas": 0, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "lastUpdateTime": "2026-01-01T00:00:00Z"}]})
    rs = {"metadata": {"name": "rs"}, "spec": {"replicas": 2},
          "status": {"replicas": 2, "availableReplicas": 1, "readyReplicas": 1}}
    status = du.calculate_status(d, [rs], rs)
    update_conditions(d, status, "rs", created_new_rs=False,
                      now=parse_time("2026-01-01T00:01:00Z"))
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ReplicaSetUpdated"
    assert progressing["lastUpdateTime"] == "2026-01-01T00:01:00Z"
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    # maxUnavailable 25% of 2 rounds down to 0 (maxSurge rounds up to 1): 1 of 2 is not enough
    assert available["status"] == "False"


@pytest.mark.parametrize(
    ("meta", "spec", "wanted"),
    [
        ({}, {}, None),
        ({"annotations": {"deprecated.deployment.rollback.to": "3"}}, {}, 3),
        ({"annotations": {"deprecated.deployment.rollback.to": "x"}}, {}, 0),
        ({}, {"rollbackTo": {"revision": 2}}, 2),
        ({}, {"rollbackTo": {}}, 0),
    ],
)
def test_rollback_requested(meta: dict[str, Any], spec: dict[str, Any], wanted: int | None) -> None:
    assert rollback_requested({"metadata": meta, "spec": spec}) == wanted


def test_every_controller_account_has_a_bootstrap_role() -> None:
    """With --use-service-account-credentials a controller without its role could do
    nothing: every account the manager names is one the api-server's policy binds."""
    from minikube_py.apiserver.bootstrap_controllers import (
        CONTROLLER_RULES,
        NAMESPACED_CONTROLLER_RULES,
    )
    from minikube_py.controllers.manager import account_of, classes
    from minikube_py.controllers.settings import ControllerManagerSettings

    found = classes(ControllerManagerSettings(controllers=("*",)))
    accounts = {name: account_of(name, cls) for name, cls in found.items()}
    missing = {n: a for n, a in accounts.items() if a is not None
               and a not in CONTROLLER_RULES and a not in NAMESPACED_CONTROLLER_RULES}
    assert missing == {}
