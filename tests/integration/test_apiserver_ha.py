"""Two api-servers on one etcd, sharing one PKI (a highly available control plane):
both serve the same objects with the same credentials, the `kubernetes` Endpoints list
both, one that stops cleanly leaves them at once and one that is killed when its lease
runs out."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import EtcdCluster, free_port

SHARED_PKI = ("ca.crt", "ca.key", "sa.key", "sa.pub", "admin.token",
              "encryption-config.yaml")
ENDPOINTS = "/api/v1/namespaces/default/endpoints/kubernetes"


@pytest.fixture
def pair(etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Server b gets a's CA, service-account keys and admin token before its first start,
    as a second control-plane host would (it issues its own serving certificate)."""
    args = ["--etcd-servers", ",".join(etcd.urls)]
    a = ApiServer(tmp_path_factory.mktemp("apiserver-a"), free_port(), args)
    b = ApiServer(tmp_path_factory.mktemp("apiserver-b"), free_port(), args)
    try:
        a.start()
        (b.data_dir / "pki").mkdir(mode=0o700)
        for name in SHARED_PKI:
            shutil.copy2(a.data_dir / "pki" / name, b.data_dir / "pki" / name)
        b.start()
        yield a, b
    finally:
        b.stop()
        a.stop()


def listed(server: ApiServer) -> list[tuple[str, int]]:
    status, ep = server.request("GET", ENDPOINTS)
    assert status == 200, ep
    assert isinstance(ep, dict)
    return sorted((addr["ip"], port["port"]) for subset in ep.get("subsets") or []
                  for addr in subset["addresses"] for port in subset["ports"])


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_both_serve_one_store_and_the_endpoints_list_both(pair: tuple[ApiServer, ApiServer]
                                                           ) -> None:
    a, b = pair
    assert a.token == b.token
    status, made = a.request("POST", "/api/v1/namespaces/default/configmaps",
                             {"metadata": {"name": "ha"}, "data": {"k": "v"}})
    assert status == 201, made
    status, seen = b.request("GET", "/api/v1/namespaces/default/configmaps/ha")
    assert status == 200 and isinstance(seen, dict) and seen["data"] == {"k": "v"}
    both = sorted([("127.0.0.1", a.port), ("127.0.0.1", b.port)])
    until(lambda: listed(a) == both, 15, f"endpoints never listed both: {listed(a)}")


def test_a_stopped_server_leaves_at_once_and_a_killed_one_when_its_lease_ends(
        pair: tuple[ApiServer, ApiServer], tmp_path: Path) -> None:
    a, b = pair
    until(lambda: len(listed(a)) == 2, 15, "endpoints never listed both")
    b.stop()
    until(lambda: listed(a) == [("127.0.0.1", a.port)], 5, f"stopped b still listed: {listed(a)}")
    b.start()
    until(lambda: len(listed(a)) == 2, 15, "restarted b never listed again")
    b.kill()
    started = time.monotonic()
    until(lambda: listed(a) == [("127.0.0.1", a.port)], 30, f"dead b still listed: {listed(a)}")
    assert time.monotonic() - started > 5, "dropped before its lease could have run out"
