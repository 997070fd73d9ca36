"""An HA lab's shape and plan (cluster/lab.py, cluster/ha.py, cluster/components.py): each
control-plane node runs the whole control plane in its own netns, etcd and the api-server
over TLS, and its agent registers with kubeadm's taint."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.cli.clusterargs import toolbox
from minikube_py.cluster import ha
from minikube_py.cluster.components import build_plan
from minikube_py.cluster.lab import LabSpec
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import ClusterState

PATHS = ClusterPaths.under(Path("/r"))
SPEC = LabSpec(2, control_planes=3)


def state() -> ClusterState:
    return ClusterState("lab", 6443, SPEC.records(), lab_bridge=SPEC.bridge,
                        lab_cidr=SPEC.cidr, vip=SPEC.vip)


def arg(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_records_control_planes_first_on_their_own_addresses() -> None:
    records = SPEC.records()
    assert [(n.name, n.ip, n.control_plane) for n in records] == [
        ("mkp-lab-cp1", "192.168.77.201", True), ("mkp-lab-cp2", "192.168.77.202", True),
        ("mkp-lab-cp3", "192.168.77.203", True), ("mkp-lab-1", "192.168.77.11", False),
        ("mkp-lab-2", "192.168.77.12", False)]
    assert SPEC.vip == "192.168.77.250" and LabSpec(2).vip is None


@pytest.mark.parametrize("count", [2, 4, 9, -1])
def test_control_plane_counts_that_make_no_quorum_sense_are_refused(count: int) -> None:
    with pytest.raises(ValueError, match="--control-planes must be 1, 3, 5 or 7"):
        LabSpec(1, control_planes=count)


def test_every_control_plane_node_runs_the_control_plane_in_its_netns() -> None:
    plan, missing = build_plan(state(), PATHS, toolbox())
    assert missing == []
    names = [c.name for c in plan]
    for node in ("mkp-lab-cp1", "mkp-lab-cp2", "mkp-lab-cp3"):
        mine = [c for c in plan if c.name.endswith(node)]
        assert [c.name.removesuffix(f"-{node}") for c in mine] == [
            "etcd", "apiserver", "scheduler", "controller-manager", "dns", "vip", "agent"]
        assert {c.netns for c in mine} == {node}
    assert names[-2:] == ["agent-mkp-lab-1", "agent-mkp-lab-2"]


def test_etcd_and_the_api_server_speak_tls_to_every_member() -> None:
    comps = {c.name: c for c in build_plan(state(), PATHS, toolbox())[0]}
    etcd = comps["etcd-mkp-lab-cp2"].argv
    assert arg(etcd, "--initial-cluster") == (
        "mkp-lab-cp1=https://192.168.77.201:2380,mkp-lab-cp2=https://192.168.77.202:2380,"
        "mkp-lab-cp3=https://192.168.77.203:2380")
    assert arg(etcd, "--listen-peer-urls") == "https://192.168.77.202:2380"
    assert "--client-cert-auth" in etcd and "--peer-client-cert-auth" in etcd
    apiserver = comps["apiserver-mkp-lab-cp2"].argv
    assert arg(apiserver, "--etcd-servers").split(",") == [
        "https://192.168.77.202:2379", "https://192.168.77.201:2379",
        "https://192.168.77.203:2379"]  # its own member first
    pki = ha.data_dir(PATHS, SPEC.records()[1]) / "pki"
    assert arg(apiserver, "--etcd-cafile") == str(pki / "etcd" / "ca.crt")
    assert arg(apiserver, "--etcd-certfile") == str(pki / "apiserver-etcd-client.crt")
    assert arg(apiserver, "--tls-san") == SPEC.vip


def test_the_vip_candidates_and_agents() -> None:
    comps = {c.name: c for c in build_plan(state(), PATHS, toolbox())[0]}
    vip = comps["vip-mkp-lab-cp3"].argv
    assert (arg(vip, "--address"), arg(vip, "--identity")) == (SPEC.vip, "mkp-lab-cp3")
    # Its own identity (system:kube-vip, only its Lease), never admin.conf.
    assert Path(arg(vip, "--kubeconfig")).name == "vip.conf"
    assert comps["vip-mkp-lab-cp3"].wait_files == [arg(vip, "--kubeconfig")]
    assert [vip[i + 1] for i, a in enumerate(vip) if a == "--peer-server"] == [
        "https://192.168.77.201:6443", "https://192.168.77.202:6443"]
    assert arg(comps["scheduler-mkp-lab-cp3"].argv, "--identity") == "mkp-lab-cp3"
    assert arg(comps["agent-mkp-lab-cp1"].argv, "--register-with-taints") == ha.TAINT
    assert "--register-with-taints" not in comps["agent-mkp-lab-1"].argv
    # Agents start once the VIP answers: their kubeconfigs name it.
    assert comps["agent-mkp-lab-1"].wait_url == f"https://{SPEC.vip}:6443/readyz"


def test_a_build_without_the_vip_command_runs_nothing() -> None:
    from minikube_py.cluster.components import Toolbox
    partial = Toolbox({k: v for k, v in toolbox().commands.items() if k != "vip"})
    assert build_plan(state(), PATHS, partial) == ([], ["vip"])


def test_every_control_plane_shares_the_keys_and_has_its_own_certificates(
        tmp_path: Path) -> None:
    """Secrets written through one api-server must be readable through the others (one
    encryption key), and each member serves and peers with its own certificates."""
    paths = ClusterPaths.under(tmp_path)
    ha.prepare_pki(paths, state())
    first, *others = (ha.data_dir(paths, n) / "pki" for n in ha.control_planes(state()))
    for name in ("ca.key", "sa.key", "admin.token", "encryption-config.yaml", "etcd/ca.key"):
        for other in others:
            assert (other / name).read_bytes() == (first / name).read_bytes(), name
    for name in ("etcd/server.crt", "etcd/peer.crt"):
        assert len({(p / name).read_bytes() for p in (first, *others)}) == 3, name
