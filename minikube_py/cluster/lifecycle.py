"""`up` and `down` for both kinds of cluster: the order of things, start to finish.

up:   root? -> lock -> already running? -> packages -> dockerd -> (lab underlay) -> plan ->
      supervisor (detached) -> api-server ready -> kubeconfigs + cluster-info -> nodes Ready
down: lock -> supervisor + components stopped -> containers -> node networking -> dockerd
      (only if ours) -> state (lab always; single node with --purge)
Progress goes to a callback (the CLI prints it); nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.cluster import (
    dns_identity,
    dockerd,
    ha,
    health,
    host,
    ingress_identity,
    join,
    kubeconfigs,
    lab,
    metrics_setup,
    supervisor,
    teardown,
)
from minikube_py.cluster.components import (
    ControllerTuning,
    Toolbox,
    build_plan,
    dns_kubeconfig,
    ingress_kubeconfig,
    metrics_server_files,
    node_kubeconfig,
    save_plan,
)
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import read_pid
from minikube_py.cluster.state import ClusterState, NodeRecord, host_lock, write_json

log = logging.getLogger(__name__)
ACTIVE = Path("/run/minikube-py/active.json")  # host-wide: one cluster per host
Progress = Callable[[str], None]


class Refused(Exception):
    """Another cluster (or none) is running; the message says what to do instead."""


@dataclasses.dataclass(frozen=True)
class UpSettings:
    """Everything `up` and `lab up` take; every field defaulted for the common case."""

    paths: ClusterPaths = dataclasses.field(default_factory=ClusterPaths)
    api_port: int = 6443
    node_name: str | None = None           # single node: default the hostname
    node_ip: str | None = None             # single node: default the primary address
    lab: lab.LabSpec | None = None         # set: a multi-node lab instead of a single node
    tuning: ControllerTuning = dataclasses.field(default_factory=ControllerTuning)
    ready_timeout: float = 180.0
    install_packages: bool = True


@dataclasses.dataclass
class UpResult:
    state: ClusterState
    already_running: bool = False
    missing: list[str] = dataclasses.field(default_factory=list)
    seconds_to_api: float | None = None
    seconds_to_ready: float | None = None


def running(paths: ClusterPaths) -> ClusterState | None:
    """The cluster of `paths` if its supervisor is alive."""
    state = ClusterState.load(paths)
    if state is not None and read_pid(paths.supervisor_pid) is not None:
        return state
    return None


def refuse_if_other(paths: ClusterPaths) -> None:
    """One cluster per host: another state dir's live cluster would share port 6443, the
    lab bridge and node names with ours."""
    try:
        raw = json.loads(ACTIVE.read_text())
        other = ClusterPaths(**{k: Path(v) for k, v in raw.items()})
    except (FileNotFoundError, ValueError, TypeError):
        return
    if other.state_dir != paths.state_dir:
        state = running(other)
        if state is not None:
            raise Refused(_other_running(state) + f" [state in {other.state_dir}]")


def _mark_active(paths: ClusterPaths) -> None:
    write_json(ACTIVE, {k: str(v) for k, v in dataclasses.asdict(paths).items()})


def _unmark_active(paths: ClusterPaths) -> None:
    try:
        if json.loads(ACTIVE.read_text()).get("state_dir") == str(paths.state_dir):
            ACTIVE.unlink()
    except (FileNotFoundError, ValueError):
        pass


def up(settings: UpSettings, tools: Toolbox, progress: Progress) -> UpResult:
    """Bring the cluster up (or report the one running); see the module docstring."""
    host.require_root()
    paths = settings.paths
    kind = "lab" if settings.lab else "single"
    with host_lock(paths):
        refuse_if_other(paths)
        current = running(paths)
        if current is not None:
            if current.kind != kind:
                raise Refused(_other_running(current))
            if settings.lab and len(current.nodes) != len(settings.lab.records()):
                raise Refused(f"a lab of {len(current.nodes)} nodes is running; "
                              "`minikube-py lab down` first to change its size")
            return UpResult(current, already_running=True)
        _prepare_host(paths, settings.install_packages, host.TOOLS, progress)
        state = _prepare_nodes(settings, progress)
        if ha.control_planes(state):
            ha.prepare_pki(paths, state)
        missing = _launch(paths, state, tools, settings.tuning, _reachable_address(state),
                          progress)
    result = UpResult(state, missing=missing)
    if "apiserver" in missing:
        return result
    asyncio.run(_converge(settings, state, result, progress, with_agents="agent" not in missing))
    return result


def _prepare_host(paths: ClusterPaths, install: bool, tools: tuple[host.Tool, ...],
                  progress: Progress) -> None:
    if install:
        host.ensure_tools(progress, tools)
    host.load_kernel_modules()
    if dockerd.ensure(paths):
        progress(f"started dockerd (log {paths.log('dockerd')}); `down` will stop it")


def _launch(paths: ClusterPaths, state: ClusterState, tools: Toolbox, tuning: ControllerTuning,
            advertise: str | None, progress: Progress) -> list[str]:
    """Record the cluster, write its plan, start the supervisor; returns missing components."""
    state.save(paths)
    _mark_active(paths)
    plan, missing = build_plan(state, paths, tools, tuning, advertise=advertise)
    save_plan(paths, plan)
    pid = supervisor.spawn(paths)
    progress(f"supervisor pid {pid} runs {', '.join(c.name for c in plan) or 'nothing'} "
             f"(logs in {paths.log_dir})")
    return missing


def start_node(paths: ClusterPaths, node: NodeRecord, server: str, tools: Toolbox,
               progress: Progress, *, install: bool = True, timeout: float = 120.0) -> UpResult:
    """After `join` wrote the node's kubeconfig: run its agent here, wait until Ready."""
    host.require_root()
    with host_lock(paths):
        refuse_if_other(paths)
        current = running(paths)
        if current is not None:
            raise Refused(_other_running(current))
        worker_tools = tuple(t for t in host.TOOLS if t.binary not in ("etcd", "etcdctl"))
        _prepare_host(paths, install, worker_tools, progress)
        state = ClusterState("node", 0, [node], server=server)
        missing = _launch(paths, state, tools, ControllerTuning(), None, progress)
    result = UpResult(state, missing=missing)
    if not missing:
        async def wait() -> None:
            async with health.client_for(node_kubeconfig(paths, node, False)) as client:
                result.seconds_to_ready = await health.wait_nodes_ready(
                    client, [node.name], timeout, progress)
        asyncio.run(wait())
    return result


def _other_running(current: ClusterState) -> str:
    if current.kind == "node":
        return (f"this host is node {current.nodes[0].name} of the cluster at {current.server}; "
                "`minikube-py down` first (one cluster per host)")
    if current.is_lab:
        return (f"a lab cluster of {len(current.nodes)} nodes is running on this host; "
                "`minikube-py lab down` first (one cluster per host)")
    return ("a single-node cluster is running on this host; `minikube-py down` first "
            "(one cluster per host)")


def _prepare_nodes(settings: UpSettings, progress: Progress) -> ClusterState:
    """The node records, after building the lab's underlay if this is a lab."""
    paths = settings.paths
    if settings.lab is None:
        ip = settings.node_ip or host.primary_ipv4()
        node = NodeRecord(settings.node_name or host.node_name(), ip)
        return ClusterState("single", settings.api_port, [node])
    spec = settings.lab
    shutil.rmtree(paths.state_dir / "lab", ignore_errors=True)  # a lab always starts afresh
    nodes = lab.create(spec)
    progress(f"lab underlay: bridge {spec.bridge} {spec.gateway}/{spec.prefixlen}, "
             + ", ".join(f"{n.name} {n.ip}" for n in nodes))
    return ClusterState("lab", settings.api_port, nodes, lab_bridge=spec.bridge,
                        lab_cidr=spec.cidr, vip=spec.vip)


async def _converge(settings: UpSettings, state: ClusterState, result: UpResult,
                    progress: Progress, with_agents: bool) -> None:
    """Wait for the api-server, hand out kubeconfigs, then wait for every node."""
    paths = settings.paths
    cps = ha.control_planes(state)
    admin = ha.data_dir(paths, cps[0]) / "admin.conf" if cps else \
        paths.apiserver_dir(state.is_lab) / "admin.conf"
    deadline = time.monotonic() + settings.ready_timeout
    while not admin.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the api-server wrote no {admin}; see {paths.log('apiserver')}")
        await asyncio.sleep(0.2)
    server = f"https://{_reachable_address(state)}:{state.api_port}"
    # The users' copy names the address every node reaches: the VIP in an HA lab.
    kubeconfigs.publish(admin, paths.admin_conf, server if cps else None)
    ca_pem = kubeconfigs.ca_data(kubeconfigs.load(admin))
    async with health.client_for(paths.admin_conf) as client:
        result.seconds_to_api = await health.wait_api(
            client, deadline - time.monotonic(), progress)
        try:
            await kubeconfigs.publish_cluster_info(client, server, ca_pem)
        except Exception as e:  # noqa: BLE001 - join-only feature, must not fail `up`
            log.warning("cluster-info not published err=%s", e)
        await _node_kubeconfigs(paths, state, client, ca_pem, admin, progress)
        for path in ([ha.data_dir(paths, n) / "dns.conf" for n in cps] if cps
                     else [dns_kubeconfig(paths, state.is_lab)]):
            await _dns_kubeconfig(path, state, client, ca_pem, admin, progress)
        if not cps:  # one control plane: its host runs the metrics server
            await _metrics_server(paths, state, client, ca_pem, progress)
        if not cps:  # the plan runs an ingress controller (not yet with several control planes)
            await _ingress_kubeconfig(paths, state, client, ca_pem, admin, progress)
        if with_agents:
            result.seconds_to_ready = await health.wait_nodes_ready(
                client, [n.name for n in state.nodes], deadline - time.monotonic(), progress)
            await ha.mark_control_planes(client, cps)


async def _node_kubeconfigs(paths: ClusterPaths, state: ClusterState, client: ApiClient,
                            ca_pem: bytes, admin: Path, progress: Progress) -> None:
    """Each agent gets its own node credential (as `join` would), kept across `down`; the
    supervisor starts an agent once its kubeconfig exists."""
    for node in state.nodes:
        path = node_kubeconfig(paths, node, state.is_lab)
        if path.exists() and all(f.exists() for f in join.serving_files(path)):
            continue
        server = f"https://{_reachable_address(state) if node.netns else '127.0.0.1'}" \
                 f":{state.api_port}"
        try:
            await join.local_node_kubeconfig(client, server, ca_pem, node, path)
        except (join.JoinError, ClientError) as e:  # an api-server without node authz
            progress(f"node {node.name} runs with admin credentials: {e}")
            kubeconfigs.publish(admin, path, server)


async def _dns_kubeconfig(path: Path, state: ClusterState, client: ApiClient,
                          ca_pem: bytes, admin: Path, progress: Progress) -> None:
    """The DNS server's own credential, refreshed at every `up` (its token expires); it
    reaches the api-server of its own host."""
    server = f"https://127.0.0.1:{state.api_port}"
    try:
        await dns_identity.write_kubeconfig(client, server, ca_pem, path)
    except ClientError as e:  # an api-server without TokenRequest
        progress(f"the DNS server runs with admin credentials: {e}")
        kubeconfigs.publish(admin, path, server)


async def _metrics_server(paths: ClusterPaths, state: ClusterState, client: ApiClient,
                         ca_pem: bytes, progress: Progress) -> None:
    """The metrics server's identity, certificate, Service and APIService (metrics_setup)."""
    conf, cert, key = metrics_server_files(paths, state.is_lab)
    try:
        await metrics_setup.install(
            client, server=f"https://127.0.0.1:{state.api_port}", ca_pem=ca_pem,
            pki_dir=paths.apiserver_dir(state.is_lab) / "pki", kubeconfig=conf, cert=cert,
            key=key, address=_reachable_address(state))
    except ClientError as e:  # an api-server without aggregation: no `kubectl top`
        progress(f"the metrics server is not set up: {e}")
async def _ingress_kubeconfig(paths: ClusterPaths, state: ClusterState, client: ApiClient,
                              ca_pem: bytes, admin: Path, progress: Progress) -> None:
    """The ingress controller's own credential, refreshed at every `up`; a lab's controller
    runs in the first node's namespace, where the api-server is at the lab gateway."""
    path = ingress_kubeconfig(paths, state.is_lab)
    server = f"https://{_reachable_address(state) if state.is_lab else '127.0.0.1'}" \
             f":{state.api_port}"
    try:
        await ingress_identity.write_kubeconfig(client, server, ca_pem, path)
    except ClientError as e:  # an api-server without TokenRequest
        progress(f"the ingress controller runs with admin credentials: {e}")
        kubeconfigs.publish(admin, path, server)


def _reachable_address(state: ClusterState) -> str:
    """Where nodes and joining hosts reach the api-server."""
    if state.vip is not None:
        return state.vip
    if state.is_lab:
        assert state.lab_cidr is not None
        return lab.LabSpec(len(state.nodes), cidr=state.lab_cidr).gateway
    return state.nodes[0].ip


def down(paths: ClusterPaths, *, purge: bool, progress: Progress,
         expect_lab: bool | None = None) -> list[str]:
    """Stop the cluster and clean the host; returns what could not be cleaned."""
    host.require_root()
    with host_lock(paths):
        state = ClusterState.load(paths)
        if state is not None and expect_lab is not None and state.is_lab != expect_lab:
            raise Refused(_other_running(state).replace(" is running", " is the cluster here"))
        supervisor.stop(paths)
        survivors = teardown.kill_leftovers(paths)
        problems = [f"process {p} survived SIGKILL" for p in survivors]
        nodes = state.nodes if state else []
        removed = teardown.remove_containers([n.name for n in nodes])
        progress(f"stopped components; removed {removed} containers")
        mounted = teardown.unmount_pods(paths, nodes, bool(state and state.is_lab))
        problems += mounted
        if state is not None and state.is_lab:
            assert state.lab_bridge is not None
            lab.destroy(state.lab_bridge, nodes)
            problems += lab.leftovers(state.lab_bridge, nodes)
            teardown.clean_cni_install(teardown.agent_settings(paths, nodes[0], lab=True))
        elif state is not None:
            problems += teardown.clean_node_network(
                teardown.agent_settings(paths, nodes[0], lab=False))
        _unmark_active(paths)
        if dockerd.stop_if_ours(paths):
            progress("stopped the dockerd that `up` started")
        if state is not None and state.is_lab:  # files under a mount left: never removed
            _forget_lab(paths, remove_files=not mounted)
        if purge and not mounted:
            shutil.rmtree(paths.state_dir, ignore_errors=True)
            shutil.rmtree(paths.log_dir, ignore_errors=True)
            paths.admin_conf.unlink(missing_ok=True)
            _remove_if_empty(paths.config_dir, ACTIVE.parent)
        return problems


def _remove_if_empty(*dirs: Path) -> None:
    for d in dirs:
        with contextlib.suppress(OSError):  # not empty (someone's files) or already gone
            d.rmdir()


def _forget_lab(paths: ClusterPaths, *, remove_files: bool) -> None:
    """A lab leaves nothing: its etcd data, node dirs (unless a mount stayed in them),
    kubeconfig and records."""
    if remove_files:
        shutil.rmtree(paths.state_dir / "lab", ignore_errors=True)
    for f in (paths.cluster_file, paths.plan_file, paths.status_file, paths.admin_conf):
        f.unlink(missing_ok=True)
    _remove_if_empty(paths.config_dir, ACTIVE.parent)
