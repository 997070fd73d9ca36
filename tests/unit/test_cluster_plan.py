"""The component plan: which processes a cluster runs, with which flags (cluster/components.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from minikube_py.cli.clusterargs import seconds, toolbox
from minikube_py.cluster.components import (
    Component,
    ControllerTuning,
    Toolbox,
    build_plan,
    load_plan,
    save_plan,
)
from minikube_py.cluster.lab import LabSpec, host_veth
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import ClusterState, NodeRecord

PATHS = ClusterPaths.under(Path("/r"))
BASIC = {"apiserver": {"--data-dir", "--port"}, "scheduler": {"--kubeconfig"},
         "controller-manager": {"--kubeconfig"},
         "agent": {"--kubeconfig", "--node-name", "--node-ip"}}


def tools(extra: dict[str, set[str]] | None = None, without: tuple[str, ...] = ()) -> Toolbox:
    cmds = {k: set(v) | (extra or {}).get(k, set()) for k, v in BASIC.items() if k not in without}
    return Toolbox({k: frozenset(v) for k, v in cmds.items()})


def single() -> ClusterState:
    return ClusterState("single", 6443, [NodeRecord("host1", "10.0.0.5")])


def lab(n: int = 3) -> ClusterState:
    return ClusterState("lab", 6443, LabSpec(n).records(), lab_bridge="mkp-lab0",
                        lab_cidr="192.168.77.0/24")


def by_name(plan: list[Component]) -> dict[str, Component]:
    return {c.name: c for c in plan}


def test_single_node_runs_each_component_once_in_dependency_order() -> None:
    plan, missing = build_plan(single(), PATHS, tools())
    assert [c.name for c in plan] == ["apiserver", "scheduler", "controller-manager", "agent"]
    assert missing == []
    api = plan[0]
    assert api.argv[1:] == ["apiserver", "--data-dir", "/r/state/apiserver", "--port", "6443"]
    assert api.wait_files == [] and api.wait_url is None and api.netns is None
    for c in plan[1:]:
        assert c.wait_url == "https://127.0.0.1:6443/readyz"
        assert c.argv[1] in ("scheduler", "controller-manager", "agent")
    # Least privilege: each control-plane component with its own kubeconfig, not admin's.
    assert plan[1].wait_files == ["/r/state/apiserver/scheduler.conf"]
    assert plan[1].argv[2:] == ["--kubeconfig", "/r/state/apiserver/scheduler.conf"]
    assert plan[2].wait_files == ["/r/state/apiserver/controller-manager.conf"]
    assert plan[2].argv[2:4] == ["--kubeconfig", "/r/state/apiserver/controller-manager.conf"]


def test_agent_of_a_single_node_runs_on_the_host_with_its_own_kubeconfig() -> None:
    agent = by_name(build_plan(single(), PATHS, tools())[0])["agent"]
    assert agent.netns is None
    assert agent.command() == agent.argv
    assert agent.argv[1:] == ["agent", "--kubeconfig", "/r/state/nodes/host1/kubelet.conf",
                              "--node-name", "host1", "--node-ip", "10.0.0.5"]


def test_optional_flags_only_when_the_component_offers_them() -> None:
    tuning = ControllerTuning(node_monitor_grace_period=10.0, pod_eviction_timeout=12.5)
    bare = by_name(build_plan(lab(), PATHS, tools(), tuning)[0])
    assert "--node-monitor-grace-period" not in bare["controller-manager"].argv
    assert "--use-service-account-credentials" not in bare["controller-manager"].argv
    assert "--iface" not in bare["agent-mkp-lab-1"].argv
    full = by_name(build_plan(lab(), PATHS, tools({
        "controller-manager": {"--node-monitor-grace-period", "--pod-eviction-timeout",
                               "--use-service-account-credentials"},
        "agent": {"--iface", "--cni-conf-dir", "--state-dir"},
        "apiserver": {"--advertise-address", "--bind-address"}}), tuning,
        advertise="192.168.77.1")[0])
    cm = full["controller-manager"].argv
    assert "--use-service-account-credentials" in cm
    assert cm[cm.index("--node-monitor-grace-period") + 1] == "10"
    assert cm[cm.index("--pod-eviction-timeout") + 1] == "12.5"
    agent = full["agent-mkp-lab-2"].argv
    assert agent[agent.index("--iface") + 1] == "eth0"
    assert agent[agent.index("--cni-conf-dir") + 1] == "/r/state/lab/nodes/mkp-lab-2/cni/net.d"
    assert agent[agent.index("--state-dir") + 1] == "/r/state/lab/nodes/mkp-lab-2"
    api = full["apiserver"].argv
    assert api[api.index("--advertise-address") + 1] == "192.168.77.1"
    assert api[api.index("--bind-address") + 1] == "0.0.0.0"


def test_lab_agents_run_inside_their_node_namespaces() -> None:
    plan = build_plan(lab(3), PATHS, tools())[0]
    agents = [c for c in plan if c.name.startswith("agent-")]
    assert [a.netns for a in agents] == ["mkp-lab-1", "mkp-lab-2", "mkp-lab-3"]
    for a in agents:
        # The network namespace only: their mounts are the host's, which dockerd sees.
        assert a.command()[:3] == ["nsenter", f"--net=/run/netns/{a.netns}", "--"]
        assert a.argv[a.argv.index("--node-name") + 1] == a.netns
    assert by_name(plan)["apiserver"].argv[3] == "/r/state/lab/apiserver"
    ips = [a.argv[a.argv.index("--node-ip") + 1] for a in agents]
    assert ips == ["192.168.77.11", "192.168.77.12", "192.168.77.13"]


def test_missing_components_are_reported_not_planned() -> None:
    plan, missing = build_plan(lab(2), PATHS, tools(without=("agent", "scheduler")))
    assert [c.name for c in plan] == ["apiserver", "controller-manager"]
    assert missing == ["agent", "scheduler"]


def test_joined_host_runs_only_its_agent() -> None:
    state = ClusterState("node", 0, [NodeRecord("w1", "10.1.1.2", iface="eth1")],
                         server="https://10.1.1.1:6443")
    plan, missing = build_plan(state, PATHS, tools({"agent": {"--iface"}}))
    assert [c.name for c in plan] == ["agent"] and missing == []
    assert plan[0].wait_url is None
    assert plan[0].argv[-2:] == ["--iface", "eth1"]


def test_plan_and_state_survive_a_round_trip(tmp_path: Path) -> None:
    paths = ClusterPaths.under(tmp_path)
    plan = build_plan(lab(2), paths, tools())[0]
    save_plan(paths, plan)
    assert load_plan(paths) == plan
    lab(2).save(paths)
    assert ClusterState.load(paths) == lab(2)


def test_toolbox_reads_this_builds_subcommands() -> None:
    box = toolbox()
    assert box.has("up") and box.has("lab") and box.supports("up", "--api-port")
    assert not box.has("no-such-command")


@pytest.mark.parametrize(("text", "value"), [("40", 40.0), ("40s", 40.0), ("5m", 300.0),
                                             ("1m30s", 90.0), ("1h", 3600.0), ("0.5s", 0.5)])
def test_durations_parse_like_kubernetes_flags(text: str, value: float) -> None:
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["", "abc", "5x", "-5s", "m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        seconds(text)


@pytest.mark.parametrize("nodes", [0, -1, 51])
def test_lab_size_is_bounded(nodes: int) -> None:
    with pytest.raises(ValueError, match="--nodes must be between 1 and 50"):
        LabSpec(nodes)


def test_lab_link_names_fit_ifnamsiz() -> None:
    assert all(len(host_veth(n.name)) <= 15 for n in LabSpec(50).records())


def test_file_flags_appear_once_their_file_exists(tmp_path: Path) -> None:
    paths = ClusterPaths.under(tmp_path)
    box = tools({"controller-manager": {"--service-account-private-key-file"}})
    cm = by_name(build_plan(single(), paths, box)[0])["controller-manager"]
    assert "--service-account-private-key-file" not in cm.command()
    key = paths.apiserver_dir(False) / "pki" / "sa.key"
    key.parent.mkdir(parents=True)
    key.write_text("k")
    assert cm.command()[-2:] == ["--service-account-private-key-file", str(key)]


def test_dns_runs_where_nodes_reach_this_host_with_its_own_credential() -> None:
    with_dns = Toolbox({**tools().commands, "dns": frozenset({"--kubeconfig"})})
    plan = by_name(build_plan(single(), PATHS, with_dns, advertise="10.0.0.5")[0])
    dns = plan["dns"]
    assert dns.argv[1:] == ["dns", "--kubeconfig", "/r/state/apiserver/dns.conf",
                            "--bind-address", "10.0.0.5", "--advertise-address", "10.0.0.5"]
    assert dns.wait_files == ["/r/state/apiserver/dns.conf"]
    assert dns.netns is None and dns.wait_url == "https://127.0.0.1:6443/readyz"
    assert "dns" not in by_name(build_plan(single(), PATHS, with_dns)[0])  # no address known
    assert build_plan(single(), PATHS, tools(), advertise="10.0.0.5")[1] == [
        "dns", "metrics-server"]


def test_metrics_server_runs_where_the_api_server_reaches_it() -> None:
    with_it = Toolbox({**tools().commands, "metrics-server": frozenset({"--kubeconfig"})})
    server = by_name(build_plan(single(), PATHS, with_it, advertise="10.0.0.5")[0])[
        "metrics-server"]
    assert server.argv[1:] == [
        "metrics-server", "--kubeconfig", "/r/state/apiserver/metrics-server.conf",
        "--tls-cert-file", "/r/state/apiserver/pki/metrics-server.crt",
        "--tls-private-key-file", "/r/state/apiserver/pki/metrics-server.key",
        "--bind-address", "10.0.0.5", "--secure-port", "4443"]
    assert server.wait_files == ["/r/state/apiserver/metrics-server.conf",
                                 "/r/state/apiserver/pki/metrics-server.crt",
                                 "/r/state/apiserver/pki/metrics-server.key"]
    assert "metrics-server" not in by_name(build_plan(single(), PATHS, with_it)[0])


def test_ingress_runs_on_the_host_or_on_every_lab_node_with_its_own_kubeconfig() -> None:
    with_ingress = Toolbox({**tools().commands, "ingress": frozenset({"--kubeconfig"})})
    single_ingress = by_name(build_plan(single(), PATHS, with_ingress,
                                        advertise="10.0.0.5")[0])["ingress"]
    assert single_ingress.netns is None
    assert single_ingress.argv[1:] == [
        "ingress", "--kubeconfig", "/r/state/apiserver/ingress.conf", "--bind-address",
        "0.0.0.0", "--publish-address", "10.0.0.5", "--state-dir", "/r/state/ingress"]
    assert single_ingress.wait_files == ["/r/state/apiserver/ingress.conf"]
    lab_plan = build_plan(lab(), PATHS, with_ingress, advertise="192.168.77.1")[0]
    ingresses = [c for c in lab_plan if c.name.startswith("ingress")]
    assert [(c.name, c.netns) for c in ingresses] == [
        (f"ingress-mkp-lab-{i}", f"mkp-lab-{i}") for i in (1, 2, 3)]
    for i, c in enumerate(ingresses, start=1):
        assert c.argv[c.argv.index("--bind-address") + 1] == f"192.168.77.1{i}"
        assert c.argv[c.argv.index("--publish-address") + 1] == \
            "192.168.77.11,192.168.77.12,192.168.77.13"
        assert c.argv[c.argv.index("--state-dir") + 1] == f"/r/state/lab/ingress/mkp-lab-{i}"
    assert "ingress" not in by_name(build_plan(single(), PATHS, tools(), advertise="10.0.0.5")[0])
