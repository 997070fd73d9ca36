"""The plan: which `minikube-py <component>` processes a cluster runs, with which flags.

Plans are plain data (JSON in the state dir) so the supervisor, `status` and `down`
agree on them without importing component code. Optional flags are passed only when
the installed component advertises them (`Toolbox`), so an older or partial build still
starts what it can and `up` says what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from minikube_py.cluster import ha, metrics_setup
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import ClusterState, NodeRecord, write_json

CONTROL_PLANE = ("apiserver", "scheduler", "controller-manager")
NETNS_DIR = "/run/netns"  # where `ip netns add` names a network namespace


@dataclasses.dataclass
class Component:
    """One supervised process. It starts once its `wait_files` exist and `wait_url` answers.

    `file_flags` are (flag, path) pairs passed only if the path exists when the process
    starts: files the api-server creates on its first start (the service-account key).
    """

    name: str
    argv: list[str]
    netns: str | None = None
    wait_files: list[str] = dataclasses.field(default_factory=list)
    wait_url: str | None = None
    file_flags: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def command(self) -> list[str]:
        """The argv to exec now; components of lab nodes run in their node's network
        namespace only. `ip netns exec` would also give them a mount namespace of their
        own: an agent's tmpfs emptyDirs and pinned subPath binds would stay there, unseen
        by dockerd, which then hands containers the plain directories beneath."""
        argv = list(self.argv)
        for flag, path in self.file_flags:
            if Path(path).exists():
                argv += [flag, path]
        return ["nsenter", f"--net={NETNS_DIR}/{self.netns}", "--", *argv] if self.netns \
            else argv


@dataclasses.dataclass(frozen=True)
class Toolbox:
    """What this build of `minikube-py` offers: subcommand -> its option strings."""

    commands: dict[str, frozenset[str]]

    def has(self, command: str) -> bool:
        return command in self.commands

    def supports(self, command: str, flag: str) -> bool:
        return flag in self.commands.get(command, frozenset())


@dataclasses.dataclass(frozen=True)
class ControllerTuning:
    """Controller-manager knobs `up`/`lab up` forward (None = the component's default)."""

    node_monitor_grace_period: float | None = None
    pod_eviction_timeout: float | None = None
    cluster_cidr: str | None = None


def minikube_exe() -> list[str]:
    """How to run our own CLI so that `ps` shows `minikube-py <component> ...`."""
    script = Path(sys.executable).with_name("minikube-py")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "minikube_py.cli.main"]


def node_kubeconfig(paths: ClusterPaths, node: NodeRecord, lab: bool) -> Path:
    return paths.node_dir(node.name, lab) / "kubelet.conf"


def build_plan(
    state: ClusterState,
    paths: ClusterPaths,
    tools: Toolbox,
    tuning: ControllerTuning = ControllerTuning(),
    *,
    advertise: str | None = None,
) -> tuple[list[Component], list[str]]:
    """The components to run for `state`, and the ones this build cannot run (missing)."""
    exe = minikube_exe()
    lab = state.is_lab
    data = paths.apiserver_dir(lab)
    readyz = f"https://127.0.0.1:{state.api_port}/readyz"
    plan: list[Component] = []
    missing: list[str] = []

    def add(command: str, component: Component) -> None:
        (plan.append(component) if tools.has(command) else missing.append(command))

    if state.kind == "node":  # a joined host runs only its agent
        add("agent", _agent(exe, tools, paths, state.nodes[0], lab, None))
        return plan, missing
    if ha.control_planes(state):
        return _ha_plan(state, paths, tools, tuning, exe)
    argv = [*exe, "apiserver", "--data-dir", str(data), "--port", str(state.api_port)]
    if tools.supports("apiserver", "--bind-address"):
        argv += ["--bind-address", "0.0.0.0"]
    if advertise and tools.supports("apiserver", "--advertise-address"):
        argv += ["--advertise-address", advertise]  # in the serving cert; kubernetes Endpoints
    add("apiserver", Component("apiserver", argv))
    # Each with its own identity and least privilege (the api-server writes these
    # kubeconfigs next to admin.conf).
    scheduler_conf, manager_conf = (data / f"{c}.conf" for c in ("scheduler",
                                                                  "controller-manager"))
    add("scheduler", Component("scheduler", [*exe, "scheduler", "--kubeconfig",
                                             str(scheduler_conf)],
                               wait_files=[str(scheduler_conf)], wait_url=readyz))
    add("controller-manager", Component(
        "controller-manager",
        [*exe, "controller-manager", "--kubeconfig", str(manager_conf),
         *_controller_flags(tools, tuning)],
        wait_files=[str(manager_conf)], wait_url=readyz, file_flags=[
            (flag, str(path)) for flag, path in (
                ("--service-account-private-key-file", data / "pki" / "sa.key"),
                ("--root-ca-file", data / "pki" / "ca.crt"))
            if tools.supports("controller-manager", flag)]))
    if advertise:  # the cluster DNS, where nodes reach this host; listed in kube-dns
        add("dns", Component("dns", [
            *exe, "dns", "--kubeconfig", str(dns_kubeconfig(paths, lab)),
            "--bind-address", advertise, "--advertise-address", advertise],
            wait_files=[str(dns_kubeconfig(paths, lab))], wait_url=readyz))
        conf, cert, key = metrics_server_files(paths, lab)
        add("metrics-server", Component("metrics-server", [
            *exe, "metrics-server", "--kubeconfig", str(conf), "--tls-cert-file", str(cert),
            "--tls-private-key-file", str(key), "--bind-address", advertise,
            # Kubelets' serving certificates are the cluster CA's, for the node's name and
            # --node-ip (its InternalIP): checked, not skipped as with --kubelet-insecure-tls.
            "--secure-port", str(metrics_setup.PORT)],
            wait_files=[str(conf), str(cert), str(key)], wait_url=readyz))
    if advertise and tools.has("ingress"):  # every lab node serves Ingresses, as with k3s
        serving = state.nodes if lab else state.nodes[:1]
        published = ",".join(n.ip for n in serving)
        plan += [_ingress(exe, paths, n, lab, readyz, published) for n in serving]
    for node in state.nodes:
        add("agent", _agent(exe, tools, paths, node, lab, readyz))
    return plan, sorted(set(missing))


def _ha_plan(state: ClusterState, paths: ClusterPaths, tools: Toolbox,
             tuning: ControllerTuning, exe: list[str]) -> tuple[list[Component], list[str]]:
    """Every control-plane node's etcd member, api-server, scheduler, controller-manager,
    DNS, VIP candidate and agent, then the workers' agents (cluster/ha.py)."""
    needed = ("apiserver", "scheduler", "controller-manager", "dns", "vip", "agent")
    missing = [c for c in needed if not tools.has(c)]
    if missing:
        return [], missing
    assert state.vip is not None
    plan = [c for node in ha.control_planes(state)
            for c in _control_plane(state, node, paths, tools, tuning, exe)]
    for node in state.nodes:
        agent = _agent(exe, tools, paths, node, True,
                       f"https://{state.vip}:{state.api_port}/readyz")
        if node.control_plane:  # the label is the admin's to set (NodeRestriction): `up`
            agent.argv += ["--register-with-taints", ha.TAINT]
        plan.append(agent)
    return plan, []


def _control_plane(state: ClusterState, node: NodeRecord, paths: ClusterPaths, tools: Toolbox,
                   tuning: ControllerTuning, exe: list[str]) -> list[Component]:
    """One control-plane node's components, in start order (its agent aside)."""
    assert state.vip is not None
    data = ha.data_dir(paths, node)
    readyz = f"https://{node.ip}:{state.api_port}/readyz"
    conf = {c: str(data / f"{c}.conf") for c in ("scheduler", "controller-manager",
                                                  "vip", "dns")}

    def own(name: str, argv: list[str], *, wait: str | None = None) -> Component:
        """A component of this node; `wait`: a file its api-server writes."""
        return Component(f"{name}-{node.name}", argv, netns=node.netns,
                         wait_files=[wait] if wait else [],
                         wait_url=readyz if wait else None)

    return [
        own("etcd", ha.etcd_argv(state, node, paths)),
        own("apiserver", [*exe, "apiserver", "--data-dir", str(data),
                          "--port", str(state.api_port), "--bind-address", "0.0.0.0",
                          "--advertise-address", node.ip, "--tls-san", state.vip,
                          "--etcd-servers", ",".join(ha.etcd_servers(state, node)),
                          *ha.apiserver_etcd_flags(paths, node)]),
        own("scheduler", [*exe, "scheduler", "--kubeconfig", conf["scheduler"],
                          "--identity", node.name], wait=conf["scheduler"]),
        own("controller-manager", [
            *exe, "controller-manager", "--kubeconfig", conf["controller-manager"],
            "--identity", node.name,
            *_controller_flags(tools, tuning),
            "--service-account-private-key-file", str(data / "pki" / "sa.key"),
            "--root-ca-file", str(data / "pki" / "ca.crt")],
            wait=conf["controller-manager"]),
        own("dns", [*exe, "dns", "--kubeconfig", conf["dns"], "--bind-address", node.ip,
                    "--advertise-address", node.ip], wait=conf["dns"]),
        own("vip", [*exe, "vip", "--kubeconfig", conf["vip"], "--address", state.vip,
                    "--interface", node.iface or "eth0", "--identity", node.name,
                    *(arg for peer in ha.control_planes(state) if peer.name != node.name
                      for arg in ("--peer-server", f"https://{peer.ip}:{state.api_port}"))],
            wait=conf["vip"]),
    ]


def metrics_server_files(paths: ClusterPaths, lab: bool) -> tuple[Path, Path, Path]:
    """The metrics server's kubeconfig, serving certificate and key, written by `up`."""
    data = paths.apiserver_dir(lab)
    return (data / "metrics-server.conf", data / "pki" / "metrics-server.crt",
            data / "pki" / "metrics-server.key")


def dns_kubeconfig(paths: ClusterPaths, lab: bool) -> Path:
    """The DNS server's own credential (ServiceAccount kube-system/kube-dns), written by
    `up` once the api-server answers."""
    return paths.apiserver_dir(lab) / "dns.conf"


def ingress_kubeconfig(paths: ClusterPaths, lab: bool) -> Path:
    """The ingress controller's own credential (ServiceAccount kube-system/ingress-controller),
    written by `up` once the api-server answers."""
    return paths.apiserver_dir(lab) / "ingress.conf"


def _ingress(exe: list[str], paths: ClusterPaths, node: NodeRecord, lab: bool,
             readyz: str, published: str) -> Component:
    """A node's ingress controller and HAProxy: the host's 80/443 for one node; in a lab,
    one per node on its address inside its namespace (where pod addresses route), so
    every node answers as k3s's Traefik behind ServiceLB does. Each publishes every
    serving node's address in the Ingresses' status."""
    kubeconfig = ingress_kubeconfig(paths, lab)
    state = paths.state_dir / (f"lab/ingress/{node.name}" if lab else "ingress")
    return Component(f"ingress-{node.name}" if lab else "ingress", [
        *exe, "ingress", "--kubeconfig", str(kubeconfig),
        "--bind-address", node.ip if node.netns else "0.0.0.0",
        "--publish-address", published, "--state-dir", str(state)],
        netns=node.netns, wait_files=[str(kubeconfig)], wait_url=readyz)


def _controller_flags(tools: Toolbox, tuning: ControllerTuning) -> list[str]:
    flags = ["--use-service-account-credentials"] if tools.supports(
        "controller-manager", "--use-service-account-credentials") else []
    wanted = {
        "--node-monitor-grace-period": tuning.node_monitor_grace_period,
        "--pod-eviction-timeout": tuning.pod_eviction_timeout,
        "--cluster-cidr": tuning.cluster_cidr,
    }
    for flag, value in wanted.items():
        if value is not None and tools.supports("controller-manager", flag):
            flags += [flag, _fmt(value)]
    return flags


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _agent(exe: list[str], tools: Toolbox, paths: ClusterPaths, node: NodeRecord, lab: bool,
           readyz: str | None) -> Component:
    kubeconfig = node_kubeconfig(paths, node, lab)
    node_dir = paths.node_dir(node.name, lab)
    argv = [*exe, "agent", "--kubeconfig", str(kubeconfig), "--node-name", node.name,
            "--node-ip", node.ip]
    optional = {
        "--iface": node.iface,
        "--cni-conf-dir": str(node_dir / "cni" / "net.d"),
        "--state-dir": str(node_dir),
    }
    for flag, value in optional.items():
        if value is not None and tools.supports("agent", flag):
            argv += [flag, value]
    name = f"agent-{node.name}" if lab else "agent"
    return Component(name, argv, netns=node.netns, wait_files=[str(kubeconfig)],
                     wait_url=readyz)


def save_plan(paths: ClusterPaths, plan: list[Component]) -> None:
    write_json(paths.plan_file, [dataclasses.asdict(c) for c in plan])


def load_plan(paths: ClusterPaths) -> list[Component]:
    try:
        raw = json.loads(paths.plan_file.read_text())
        return [Component(**{**c, "file_flags": [tuple(f) for f in c.get("file_flags", [])]})
                for c in raw]
    except FileNotFoundError:
        return []
