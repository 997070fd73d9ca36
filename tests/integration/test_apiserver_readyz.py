"""/readyz follows etcd's quorum: a 3-member etcd losing 2 members makes it fail within
seconds, naming the etcd check as kube-apiserver does; the members back makes it ready
again (the api-server itself is never restarted)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import EtcdCluster


def wait_readyz(server: ApiServer, status: int, timeout: float) -> tuple[int, object]:
    deadline = time.monotonic() + timeout
    while True:
        answer = server.request("GET", "/readyz", auth=False)
        if answer[0] == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_readyz_fails_with_the_etcd_check_while_etcd_has_no_quorum(
        etcd_factory: Callable[..., EtcdCluster],
        apiserver_factory: Callable[..., ApiServer]) -> None:
    cluster = etcd_factory(3)
    server = apiserver_factory(etcd_servers=cluster.urls)
    assert server.request("GET", "/readyz", auth=False) == (200, "ok")
    assert server.request("GET", "/readyz?verbose", auth=False) == (
        200, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n")

    cluster.kill(1)
    cluster.kill(2)
    started = time.monotonic()
    status, body = wait_readyz(server, 500, timeout=30)
    assert (status, body) == (500, ("[+]ping ok\n[-]etcd failed: reason withheld\n"
                                    "readyz check failed\n"))
    assert time.monotonic() - started < 15
    assert "readyz check failed check=etcd reason=" in server.log_file.read_text()

    cluster.start(1)
    cluster.start(2)
    for i in (1, 2):
        cluster.wait_healthy(i)
    assert wait_readyz(server, 200, timeout=30) == (200, "ok")
