"""install.sh, unchanged, on real systemd hosts (tests/e2e/systemd_hosts.py: Debian 12
containers with systemd as PID 1 and their own dockerd, on a Docker network as the LAN).

The first control plane is installed with a floating API address (--vip); a worker joins
through it over real TCP; systemd starts every unit; a pod on the worker gets its network
(install.sh installs the reference portmap the conflist chains) and is reached from a pod
on the control-plane host across the VXLAN overlay, by its address and its Service.

Under the `hosts_chaos` marker (bin/test runs it; `-m "not hosts_chaos"` leaves it out):
two more control planes join through the VIP (etcd learners, promoted), then with writes
flowing through the VIP, `systemctl kill` the VIP holder's api-server, then power off the
new holder's container: the API keeps answering through the VIP, nothing acknowledged is
lost, and `minikube-py node remove` takes the dead host's etcd member out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.ha_load import Api, WatchRecorder, WriteLoad
from minikube_py.api.resources import LEASES, NODES, PODS, SERVICES
from minikube_py.client.errors import ClientError, NotFound
from minikube_py.cluster import kubeconfigs
from minikube_py.cluster.health import node_ready
from tests.e2e import systemd_hosts
from tests.e2e.cluster_support import api, eventually, needs_root
from tests.e2e.systemd_hosts import Host, Lan

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root]

CP_UNITS = ("etcd", "apiserver", "scheduler", "controller-manager", "agent", "dns",
            "ingress", "vip")
VIP_LEASE = "plndr-cp-lock"
RESUME_WITHIN = 30.0  # s: a lease (5 s), a restart (RestartSec 2 s) and a start


class Cluster:
    """The hosts, the admin kubeconfig pointed at the VIP, the join commands."""

    def __init__(self, net: Lan, first: Host, worker: Host, admin: Path,
                 control_plane_join: list[str]) -> None:
        self.net, self.worker, self.admin = net, worker, admin
        self.control_plane_join = control_plane_join
        self.control_planes = [first]  # the live ones, first first

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {n["metadata"]["name"]: n for n in api(self.admin, lambda c: c.list(NODES))["items"]}

    def all_ready(self, names: list[str]) -> dict[str, bool] | None:
        nodes = self.nodes()
        ready = {n: n in nodes and node_ready(nodes[n]) for n in names}
        return ready if all(ready.values()) else None


def install(host: Host, *args: str) -> str:
    """`install.sh ARGS` from the repository as it is (mounted read-only at /src)."""
    started = time.monotonic()
    out = host.must(f"/src/install.sh {' '.join(args)} 2>&1", timeout=600)
    print(f"install.sh on {host.name}: {time.monotonic() - started:.0f} s")
    return out


def units_active(host: Host, units: tuple[str, ...]) -> dict[str, str]:
    names = " ".join(f"minikube-py-{u}" for u in units)
    states = host.sh(f"systemctl is-active {names}").stdout.split()
    return dict(zip(units, states, strict=True))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = time.monotonic()
    image = systemd_hosts.ensure_image()
    print(f"host image {image} ready in {time.monotonic() - started:.0f} s")
    with systemd_hosts.lan(image) as net:
        first, worker = net.boot("cp1", "w1")
        install(first, "--role", "control-plane", "--vip", net.vip, "--join-file", "/root/join")
        worker_join = first.must("cat /root/join").split()
        cp_join = first.must("cat /root/join.control-plane").split()
        assert worker_join[worker_join.index("--server") + 1] == f"https://{net.vip}:6443"
        install(worker, "--role", "worker", *worker_join[2:])
        conf = yaml.safe_load(first.must("cat /etc/minikube-py/admin.conf"))
        admin = tmp_path_factory.mktemp("hosts") / "admin.conf"
        admin.write_text(yaml.safe_dump(kubeconfigs.with_server(conf, f"https://{net.vip}:6443")))
        admin.chmod(0o600)
        # As printed: install.sh --role control-plane --join https://VIP:6443 --token T ...
        yield Cluster(net, first, worker, admin,
                      ["--join" if w == "--server" else w for w in cp_join[2:]])


def _pod(name: str, node: str, script: str, restart: str = "Always") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": node, "restartPolicy": restart,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "main", "image": "minikube-py/busybox:1",
                                     "command": ["sh", "-c", script]}]}}


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


@pytest.mark.timeout(900)
def test_install_sh_joins_a_worker_whose_pods_get_a_network(cluster: Cluster) -> None:
    # The first control plane, unless the chaos test (run before, in a random order) killed it.
    first, worker = cluster.control_planes[0], cluster.worker
    assert units_active(first, CP_UNITS) == dict.fromkeys(CP_UNITS, "active")
    assert units_active(worker, ("agent",)) == {"agent": "active"}
    assert worker.sh("test -x /usr/lib/cni/portmap").returncode == 0  # what the chain needs
    eventually(lambda: cluster.all_ready([first.name, worker.name]), 120, "both nodes Ready")
    nodes = {n["metadata"]["name"]: n for n in api(cluster.admin, lambda c: c.list(NODES))[
        "items"]}
    role = "node-role.kubernetes.io/control-plane"
    assert role in nodes[first.name]["metadata"]["labels"]  # as kubeadm marks a control plane
    assert [(t["key"], t["effect"]) for t in nodes[first.name]["spec"].get("taints") or []] \
        == [(role, "NoSchedule")]
    assert role not in nodes[worker.name]["metadata"]["labels"]
    assert not nodes[worker.name]["spec"].get("taints")

    # A pod on the worker serves; one on a control-plane host reaches it across the overlay
    # by its address and through its Service (the proxy's NAT on the client's host).
    server = f"web-{time.monotonic_ns() % 10**6}"
    client = f"{server}-client"
    api(cluster.admin, lambda c: c.create(PODS, _pod(server, worker.name, (
        "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
        "httpd -f -p 8080 -h /www")), namespace="default"))
    try:
        svc = api(cluster.admin, lambda c: c.create(SERVICES, _service(server),
                                                    namespace="default"))
        pod_ip = eventually(lambda: _running_ip(cluster, server), 120, "the worker's pod Running")
        assert pod_ip.startswith("10.244.")
        script = (  # each target within 30 tries (the proxy may sync after the pod runs;
            # until then the Service has no endpoints and is REJECTed: a refused try is quiet)
            "ok() { printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $1 $2 2>/dev/null | grep -q hello-from-; }; "
            f"for target in '{pod_ip} 8080' '{svc['spec']['clusterIP']} 80'; do n=0; "
            "until ok $target; do n=$((n+1)); [ $n -lt 30 ] || exit 1; sleep 1; done; "
            "echo reached $target; done")
        api(cluster.admin, lambda c: c.create(PODS, _pod(client, first.name, script, "Never"),
                                              namespace="default"))
        phase = eventually(lambda: _phase(cluster, client, ("Succeeded", "Failed")), 120,
                           "the client pod finished")
        assert phase == "Succeeded", worker.sh("journalctl -u minikube-py-agent -n 50").stdout
        # Read through the first host's kubelet: its serving certificate is of the cluster CA.
        logs = api(cluster.admin, lambda c: c.request(
            "GET", f"/api/v1/namespaces/default/pods/{client}/log"))
        assert logs == f"reached {pod_ip} 8080\nreached {svc['spec']['clusterIP']} 80\n"
    finally:
        async def cleanup(c: Any) -> None:
            for name in (server, client):
                try:
                    await c.delete(PODS, name, "default")
                except NotFound:
                    pass
            try:
                await c.delete(SERVICES, server, "default")
            except NotFound:
                pass
        api(cluster.admin, cleanup)


def _running_ip(cluster: Cluster, name: str) -> str | None:
    pod = api(cluster.admin, lambda c: c.get(PODS, name, "default"))
    status = pod.get("status") or {}
    return str(status["podIP"]) if status.get("phase") == "Running" and status.get("podIP") \
        else None


def _phase(cluster: Cluster, name: str, wanted: tuple[str, ...]) -> str | None:
    phase = (api(cluster.admin, lambda c: c.get(PODS, name, "default")).get("status")
             or {}).get("phase")
    return str(phase) if phase in wanted else None


def vip_holder(cluster: Cluster) -> str | None:
    """The Lease's holder; None while nobody holds it or the VIP does not answer."""
    try:
        lease = api(cluster.admin, lambda c: c.get(LEASES, VIP_LEASE, "kube-system"))
    except (ClientError, OSError):
        return None
    return str(lease["spec"].get("holderIdentity") or "") or None


def etcd_members(host: Host) -> list[list[str]]:
    """`minikube-py etcd member list` rows: id, learner|voter, name, peer URLs, client URLs."""
    out = host.must("minikube-py etcd member list")
    return [[f.strip() for f in line.split(",")] for line in out.splitlines()]


@pytest.fixture(scope="module")
def ha(cluster: Cluster) -> Cluster:
    """Two more control planes, joined one at a time through the VIP."""
    for host in cluster.net.boot("cp2", "cp3"):
        install(host, "--role", "control-plane", *cluster.control_plane_join)
        cluster.control_planes.append(host)
    names = [h.name for h in cluster.control_planes]
    eventually(lambda: cluster.all_ready([*names, cluster.worker.name]), 120, "all nodes Ready")
    rows = etcd_members(cluster.control_planes[0])
    assert sorted((r[1], r[2]) for r in rows) == [("voter", n) for n in sorted(names)]
    return cluster


@pytest.mark.hosts_chaos
@pytest.mark.timeout(1200)
def test_ha_control_plane_survives_a_killed_unit_and_a_dead_host(ha: Cluster) -> None:
    for host in ha.control_planes:
        assert units_active(host, CP_UNITS) == dict.fromkeys(CP_UNITS, "active"), host.name
    target = Api.from_kubeconfig(ha.admin)
    watch = WatchRecorder(target).start()
    writes = WriteLoad(target, prefix=f"hosts{time.monotonic_ns()}").start()
    by_name = {h.name: h for h in ha.control_planes}
    try:
        eventually(lambda: len(writes.acked) >= 20 or None, 60, "writes through the VIP")

        # systemd restarts an api-server killed under the VIP; writes resume through it.
        holder = by_name[eventually(lambda: vip_holder(ha), 30, "a VIP holder")]
        restarts = int(holder.must("systemctl show -p NRestarts --value minikube-py-apiserver"))
        holder.must("systemctl kill -s SIGKILL minikube-py-apiserver")
        fault = time.monotonic()  # after: the write load runs on while docker exec starts
        print(f"api-server killed: writes resumed after {writes.wait_resumed(fault, RESUME_WITHIN):.1f} s")
        eventually(lambda: int(holder.must(
            "systemctl show -p NRestarts --value minikube-py-apiserver")) > restarts or None,
            30, "systemd restarted the api-server")

        # The VIP holder's machine dies: another host takes the address, writes resume.
        dead = by_name[eventually(lambda: vip_holder(ha), 30, "a VIP holder")]
        systemd_hosts.docker("kill", dead.container)
        fault = time.monotonic()
        print(f"host {dead.name} killed: writes resumed after "
              f"{writes.wait_resumed(fault, RESUME_WITHIN):.1f} s")
        eventually(lambda: (vip_holder(ha) or dead.name) != dead.name or None, 30,
                   "the VIP moved off the dead host")
        time.sleep(2)  # a few writes more through the new holder
    finally:
        writes.stop()
        watch.stop()
    assert writes.missing() == []
    assert watch.backwards == [] and watch.seen > 0

    # The dead host leaves for good: its etcd member first, then its Node.
    alive = next(h for h in ha.control_planes if h is not dead)
    removed = alive.must(f"minikube-py node remove {dead.name}")
    assert f'node "{dead.name}" deleted (etcd member' in removed
    rows = etcd_members(alive)
    assert sorted(r[2] for r in rows) == sorted(h.name for h in ha.control_planes
                                                if h is not dead)
    assert dead.name not in ha.nodes()
    ha.control_planes.remove(dead)
    status, _ = target.request("POST", "/api/v1/namespaces/default/configmaps",
                               {"metadata": {"name": f"after-{dead.name}"}, "data": {}})
    assert status == 201  # two members left are a whole cluster
