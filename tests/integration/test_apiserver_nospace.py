"""etcd's NOSPACE alarm through a real api-server, as an operator meets it: once the database
reaches its quota every write is refused with etcd's words, as kube-apiserver answers
("Error from server: etcdserver: mvcc: database space exceeded" in kubectl), while reads and
/readyz go on (the data is all there; kube-apiserver's etcd check is a read too). Once
objects are deleted, the api-server's compactor recovers by itself (compact, defragment,
disarm: store/defrag.py) and writes are accepted again, with nothing restarted."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import EtcdCluster

MB = 1024 * 1024
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def big(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"v": "x" * (900 * 1024)}}  # under 1 MiB


def test_writes_are_refused_while_nospace_and_accepted_after_recovery(
        etcd_factory: Callable[..., EtcdCluster],
        apiserver_factory: Callable[..., ApiServer]) -> None:
    cluster = etcd_factory(1, quota_bytes=16 * MB)
    server = apiserver_factory(etcd_servers=cluster.urls, etcd_compaction_interval=1)
    made = []
    for i in range(40):
        status, body = server.request("POST", CONFIGMAPS, big(f"big-{i}"))
        if status != 201:
            break
        made.append(f"big-{i}")
    assert 5 < len(made) < 40
    assert isinstance(body, dict)
    assert (status, body["status"], body["message"]) == (
        500, "Failure", "etcdserver: mvcc: database space exceeded"), body
    status, _ = server.request("POST", CONFIGMAPS, {"metadata": {"name": "small"}})
    assert status == 500  # the alarm refuses every write, not only large ones
    assert server.request("GET", f"{CONFIGMAPS}/{made[0]}")[0] == 200
    assert server.request("GET", "/readyz", auth=False) == (200, "ok")

    for name in made:
        assert server.request("DELETE", f"{CONFIGMAPS}/{name}")[0] == 200  # deletes pass
    deadline = time.monotonic() + 30
    while (status := server.request("POST", CONFIGMAPS, {"metadata": {"name": "small"}})[0]
           ) != 201:
        assert status == 500 and time.monotonic() < deadline, status
        time.sleep(0.3)
    log = server.log_file.read_text()
    assert "etcd NOSPACE alarm: writes are refused" in log
    assert "etcd NOSPACE alarm disarmed" in log
