"""`minikube-py join`: this host becomes a node of a cluster running elsewhere."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from minikube_py.cli.clusterargs import add_paths, ipv4, paths_from, say, toolbox
from minikube_py.cli.main import CLIError

if TYPE_CHECKING:
    from pathlib import Path

    from minikube_py.cluster.join import JoinRequest
    from minikube_py.cluster.paths import ClusterPaths
    from minikube_py.cluster.state import NodeRecord


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "join", help="join this host to a cluster as a node (root)",
        description="Verifies the api-server against --ca-cert-hash, exchanges the bootstrap "
                    "token for this node's own credentials, then starts the agent. On any "
                    "error nothing on this host is changed.")
    p.add_argument("--server", required=True, help="https://CONTROL_PLANE_IP:6443")
    p.add_argument("--token", required=True, help="from `minikube-py token create`")
    p.add_argument("--ca-cert-hash", required=True, help="sha256:<hex> of the cluster CA's key")
    p.add_argument("--node-name", help="default: the hostname")
    p.add_argument("--node-ip", type=ipv4, help="this node's address on the cluster network "
                                     "(default: the one routing to --server)")
    p.add_argument("--iface", help="underlay interface for the overlay, e.g. eth1 on Vagrant")
    p.add_argument("--systemd", action="store_true",
                   help="only write credentials and /etc/minikube-py/agent.env; "
                        "systemd runs the agent (install.sh)")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    p.add_argument("--register-with-taints", default="", metavar="key[=value]:Effect,...",
                   help="taints the Node registers with (kubeadm's nodeRegistration.taints); "
                        "--control-plane adds node-role.kubernetes.io/control-plane:NoSchedule")
    p.add_argument("--control-plane", action="store_true",
                   help="join as another control-plane host (kubeadm join --control-plane): "
                        "fetch the shared PKI, add an etcd learner, write the etcd and "
                        "api-server env files; needs --systemd and --certificate-key")
    p.add_argument("--certificate-key", default="",
                   help="the key `minikube-py upload-certs` printed on a control-plane host")
    p.add_argument("--etcd-servers", default="",
                   help="etcd client URLs to join (default: https://IP:2379 of every "
                        "api-server in the kubernetes Endpoints)")
    add_paths(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from minikube_py.cluster import host, join, lifecycle
    from minikube_py.cluster.components import node_kubeconfig
    from minikube_py.cluster.state import NodeRecord

    paths = paths_from(args)
    try:
        host.require_root()
        if args.control_plane and not (args.systemd and args.certificate_key):
            raise CLIError("--control-plane needs --systemd (install.sh runs the units) "
                           "and --certificate-key")
        taints = _taints(args)
        if taints and not args.systemd:
            raise CLIError("--register-with-taints needs --systemd (the agent.env install.sh's "
                           "unit reads)")
        node = NodeRecord(args.node_name or host.node_name(),
                          args.node_ip or host.primary_ipv4(), iface=args.iface,
                          control_plane=args.control_plane)
        req = join.JoinRequest(args.server, args.token, args.ca_cert_hash, node.name,
                               (node.ip,)).validated()
        ca_pem = asyncio.run(join.fetch_ca(req.server, req.ca_cert_hash))  # read-only
        lifecycle.refuse_if_other(paths)
        if lifecycle.running(paths) is not None:
            raise lifecycle.Refused("a cluster already runs on this host; `minikube-py down` first")
        kubeconfig = node_kubeconfig(paths, node, lab=False)
        if args.control_plane:
            _join_etcd(args, req, ca_pem, node, paths, kubeconfig)
        else:
            asyncio.run(join.join(req, ca_pem, kubeconfig))
        say(f"joined {args.server} as node {node.name} ({node.ip}); credentials in {kubeconfig}")
        if args.systemd:
            join.write_agent_env(paths.config_dir / "agent.env", node, kubeconfig, taints)
            say(f"wrote {paths.config_dir / 'agent.env'}; start: systemctl enable --now "
                "minikube-py-agent")
            return 0
        result = lifecycle.start_node(paths, node, args.server, toolbox(), say,
                                      install=not args.no_install)
    except (join.JoinError, host.HostError, lifecycle.Refused, TimeoutError, RuntimeError) as e:
        raise CLIError(str(e)) from e
    if result.missing:
        raise CLIError("this build has no `minikube-py agent`; credentials are in place")
    say(f"node {node.name} Ready; `minikube-py status` here, kubectl on the control plane")
    return 0


def _taints(args: argparse.Namespace) -> list[str]:
    """--register-with-taints checked, with the control-plane taint of a control-plane join."""
    from minikube_py.api.taints import parse_taint
    from minikube_py.cluster.ha import TAINT

    taints = [t for t in args.register_with_taints.split(",") if t]
    for taint in taints:
        try:
            parse_taint(taint)
        except ValueError as e:
            raise CLIError(f"--register-with-taints: {e}") from None
    if args.control_plane and TAINT not in taints:
        taints.append(TAINT)
    return taints


def _join_etcd(args: argparse.Namespace, req: JoinRequest, ca_pem: bytes, node: NodeRecord,
               paths: ClusterPaths, kubeconfig: Path) -> None:
    """The control-plane part: shared PKI, own certificates, the etcd learner, env files,
    then the node's credentials."""
    import asyncio
    from urllib.parse import urlsplit

    from minikube_py.cluster import join_control_plane as cp

    pki_dir = paths.apiserver_dir(False) / "pki"
    asyncio.run(cp.fetch_pki(req, ca_pem, args.certificate_key, pki_dir, node))
    servers = [s for s in args.etcd_servers.split(",") if s] or \
        asyncio.run(cp.etcd_endpoints(req, pki_dir))
    etcd = asyncio.run(cp.add_member(pki_dir, node, servers))
    cp.write_env(paths.config_dir, node, etcd, urlsplit(req.server).hostname or "")
    asyncio.run(cp.node_credentials(req, pki_dir, ca_pem, node, kubeconfig))
    say(f"etcd member {etcd.member_id:x} added as a learner; start minikube-py-etcd, then "
        f"promote it: minikube-py etcd member promote {node.name}")
