"""`minikube-py apiserver`: the Kubernetes API over HTTPS, on etcd."""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING

from minikube_py.cli.main import CLIError

if TYPE_CHECKING:  # imported where used: `--help` stays fast
    from minikube_py.apiserver.settings import ApiServerSettings
    from minikube_py.store.etcdtls import EtcdTLS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("apiserver", help="run the API server (embedded etcd by default)")
    p.add_argument("--data-dir", required=True, type=Path,
                   help="state: pki/, admin.conf, etcd/ (embedded etcd)")
    p.add_argument("--port", type=int, default=6443, help="HTTPS port (default 6443)")
    p.add_argument("--bind-address", default="127.0.0.1", help="listen address (127.0.0.1)")
    p.add_argument("--etcd-servers", default="",
                   help="comma-separated etcd client URLs; empty: run an embedded etcd")
    p.add_argument("--etcd-cafile", type=Path, help="CA that signed the etcd servers' certificates")
    p.add_argument("--etcd-certfile", type=Path, help="client certificate presented to etcd")
    p.add_argument("--etcd-keyfile", type=Path, help="key of --etcd-certfile")
    p.add_argument("--etcd-insecure", action="store_true",
                   help="accept a plain-HTTP etcd that is not on loopback (its traffic, "
                        "Secrets included, crosses the network unencrypted)")
    p.add_argument("--advertise-address", default="",
                   help="address the `kubernetes` Endpoints point at")
    p.add_argument("--tls-san", action="append", default=[], metavar="IP_OR_DNS",
                   help="extra serving-certificate SAN (repeatable)")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                   help="ClusterIPs; the 1st is `kubernetes`, the 10th kube-dns (10.96.0.0/12)")
    p.add_argument("--service-node-port-range", default="30000-32767",
                   help="NodePorts (30000-32767)")
    p.add_argument("--etcd-snapshot-interval", type=float, default=12 * 3600.0,
                   help="scheduled snapshots of the embedded etcd into DATA_DIR/snapshots "
                        "(seconds, default 43200 = 12 h; 0: none)")
    p.add_argument("--etcd-snapshot-retention", type=int, default=5,
                   help="scheduled snapshots kept (default 5)")
    p.add_argument("--etcd-compaction-interval", type=float, default=300.0,
                   help="seconds between compactions (history kept: one interval; 300)")
    p.add_argument("--watch-progress-interval", type=float, default=10.0,
                   help="seconds between etcd progress requests (bookmarks on quiet kinds; 10)")
    p.add_argument("--event-ttl", type=int, default=3600,
                   help="seconds an Event is kept after its last write (default 3600)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes serving the port (SO_REUSEPORT), for hosts with spare "
                        "cores (default 1)")
    p.add_argument("--authorization-mode", default="Node,RBAC",
                   help="Node,RBAC (default), or AlwaysAllow (every authenticated request "
                        "allowed: only for measuring what authorization costs)")
    p.add_argument("--pod-security-default", default="baseline",
                   choices=("privileged", "baseline", "restricted"),
                   help="Pod Security level of namespaces without pod-security.kubernetes.io "
                        "labels (default baseline; kube-system is always privileged)")
    p.add_argument("--encryption-provider-config", type=Path, default=None,
                   help="EncryptionConfiguration (apiserver.config.k8s.io/v1) for data at rest "
                        "(default: DATA_DIR/pki/encryption-config.yaml, generated: Secrets "
                        "sealed with secretbox)")
    p.add_argument("--min-request-timeout", type=int, default=1800,
                   help="seconds a watch lasts at least (times a random 1-2; also the most a "
                        "timeoutSeconds may ask for; default 1800)")
    p.add_argument("--max-requests-inflight", type=int, default=400,
                   help="read-only requests served at once, beyond which 429 (default 400; "
                        "0: no limit; watches, exec, logs and proxies not counted)")
    p.add_argument("--max-mutating-requests-inflight", type=int, default=200,
                   help="mutating requests served at once, beyond which 429 (default 200; "
                        "0: no limit)")
    p.add_argument("--max-watches-per-user", type=int, default=1000,
                   help="watches one user may hold open at once, beyond which 429 (default "
                        "1000; 0: no limit; system:masters never refused)")
    p.add_argument("--idle-connection-timeout", type=float, default=90.0,
                   help="seconds an idle client connection is kept open (default 90)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # started by --workers
    p.set_defaults(func=_run)


def _settings(args: argparse.Namespace) -> ApiServerSettings:
    from minikube_py.apiserver.settings import ApiServerSettings
    if not 0 < args.port < 65536:
        raise CLIError(f"--port must be between 1 and 65535, got {args.port}")
    try:
        net = ipaddress.ip_network(args.service_cluster_ip_range, strict=False)
    except ValueError as e:
        raise CLIError(f"--service-cluster-ip-range: {e}") from None
    if net.version != 4 or net.num_addresses < 8:
        raise CLIError("--service-cluster-ip-range must be an IPv4 range of at least 8 addresses")
    try:
        low, high = (int(x) for x in args.service_node_port_range.split("-"))
    except ValueError:
        raise CLIError("--service-node-port-range must look like 30000-32767") from None
    if not 0 < low <= high < 65536:
        raise CLIError("--service-node-port-range is not a valid port range")
    for ip in (args.bind_address, args.advertise_address):
        if ip:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise CLIError(f"not an IP address: {ip}") from None
    if args.etcd_snapshot_interval < 0 or args.etcd_snapshot_retention < 1:
        raise CLIError("--etcd-snapshot-interval must not be negative and "
                       "--etcd-snapshot-retention at least 1")
    if args.etcd_compaction_interval <= 0:
        raise CLIError("--etcd-compaction-interval must be positive")
    if args.event_ttl <= 0:
        raise CLIError("--event-ttl must be positive")
    if args.watch_progress_interval <= 0:
        raise CLIError("--watch-progress-interval must be positive")
    if args.min_request_timeout <= 0 or args.idle_connection_timeout <= 0:
        raise CLIError("--min-request-timeout and --idle-connection-timeout must be positive")
    if min(args.max_requests_inflight, args.max_mutating_requests_inflight,
           args.max_watches_per_user) < 0:
        raise CLIError("--max-requests-inflight, --max-mutating-requests-inflight and "
                       "--max-watches-per-user must not be negative")
    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    modes = tuple(m.strip() for m in args.authorization_mode.split(",") if m.strip())
    if modes not in (("Node", "RBAC"), ("AlwaysAllow",)):
        raise CLIError("--authorization-mode must be Node,RBAC or AlwaysAllow")
    if args.worker and not args.etcd_servers:
        raise CLIError("--worker needs --etcd-servers (it is started by --workers)")
    etcd_servers = [u.strip() for u in args.etcd_servers.split(",") if u.strip()]
    return ApiServerSettings(
        data_dir=args.data_dir.resolve(), port=args.port, bind_address=args.bind_address,
        etcd_servers=etcd_servers, etcd_tls=_etcd_tls(args, etcd_servers),
        etcd_insecure=args.etcd_insecure,
        advertise_address=args.advertise_address,
        service_cluster_ip_range=str(net), node_port_range=(low, high),
        compaction_interval=args.etcd_compaction_interval,
        etcd_snapshot_interval=args.etcd_snapshot_interval,
        etcd_snapshot_retention=args.etcd_snapshot_retention, event_ttl=args.event_ttl,
        watch_progress_interval=args.watch_progress_interval,
        tls_sans=[s.strip() for s in args.tls_san if s.strip()],
        workers=args.workers, worker=args.worker, authorization_mode=modes,
        pod_security_default=args.pod_security_default,
        min_request_timeout=args.min_request_timeout,
        max_requests_inflight=args.max_requests_inflight,
        max_mutating_requests_inflight=args.max_mutating_requests_inflight,
        max_watches_per_user=args.max_watches_per_user,
        idle_connection_timeout=args.idle_connection_timeout,
        encryption_provider_config=args.encryption_provider_config and
        args.encryption_provider_config.resolve())


def _etcd_tls(args: argparse.Namespace, etcd_servers: list[str]) -> EtcdTLS | None:
    """The client TLS to etcd the flags give (all three files or none), checked against the
    URLs: https needs it, http off loopback is refused without --etcd-insecure."""
    from minikube_py.store.etcdtls import EtcdTLS, InsecureEtcd, check_endpoints
    files = {"--etcd-cafile": args.etcd_cafile, "--etcd-certfile": args.etcd_certfile,
             "--etcd-keyfile": args.etcd_keyfile}
    given = {flag: path for flag, path in files.items() if path is not None}
    if given and len(given) < len(files):
        missing = ", ".join(sorted(set(files) - set(given)))
        raise CLIError(f"{', '.join(given)} given without {missing}: all three or none")
    for flag, path in given.items():
        if not path.is_file():
            raise CLIError(f"{flag} {path}: no such file")
    tls = EtcdTLS(args.etcd_cafile.resolve(), args.etcd_certfile.resolve(),
                  args.etcd_keyfile.resolve()) if given else None
    if given and not etcd_servers:
        raise CLIError("--etcd-cafile/--etcd-certfile/--etcd-keyfile need --etcd-servers "
                       "(the embedded etcd uses its own certificates)")
    try:
        check_endpoints(etcd_servers, tls, allow_insecure=args.etcd_insecure)
    except InsecureEtcd as e:
        raise CLIError(f"--etcd-servers {e}") from None
    return tls


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # gRPC's fork handlers only warn when the etcd supervisor spawns etcd; we never fork
    # a process that uses gRPC.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    from minikube_py.apiserver.server import StartupError, run
    try:
        return run(settings)
    except StartupError as e:
        raise CLIError(str(e)) from None
