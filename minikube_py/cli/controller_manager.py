"""`minikube-py controller-manager`: run the controllers (leader-elected)."""

from __future__ import annotations

import argparse
from pathlib import Path

from minikube_py.cli.flags import add_leader_flags, leader_settings, parse_duration


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("controller-manager", help="run the controllers")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the api-server")
    p.add_argument("--controllers", default="*",
                   help="comma-separated controllers: '*' for all, '-name' to leave one out")
    add_leader_flags(p, "kube-controller-manager")
    p.add_argument("--node-monitor-grace-period", type=parse_duration, default=40.0,
                   help="silence after which a node is Unknown (default 40s)")
    p.add_argument("--node-monitor-period", type=parse_duration, default=5.0,
                   help="how often every node is looked at (default 5s)")
    p.add_argument("--pod-eviction-timeout", type=parse_duration, default=300.0,
                   help="default toleration of an unreachable/not-ready node (default 300s)")
    p.add_argument("--node-eviction-rate", type=float, default=0.1,
                   help="nodes per second per zone whose pods start being evicted (0.1)")
    p.add_argument("--secondary-node-eviction-rate", type=float, default=0.01,
                   help="the rate in a large zone in partial disruption (0.01)")
    p.add_argument("--unhealthy-zone-threshold", type=float, default=0.55,
                   help="share of NotReady nodes (at least 3) making a zone disrupted (0.55)")
    p.add_argument("--large-cluster-size-threshold", type=int, default=50,
                   help="zones up to this size stop evicting in partial disruption (50)")
    p.add_argument("--cluster-cidr", default="10.244.0.0/16", help="pod network, cut into one /24 per node (10.244.0.0/16)")
    p.add_argument("--service-account-private-key-file",
                   help="PEM RSA key to sign service-account tokens (the api-server's sa.key)")
    p.add_argument("--root-ca-file", help="CA certificate put into token Secrets as ca.crt")
    p.add_argument("--use-service-account-credentials", action="store_true",
                   help="run each controller as its own service account in kube-system")
    p.add_argument("--lb-address-pool", action="append", default=[], metavar="RANGE",
                   help="LoadBalancer addresses (a-b range, CIDR or address; repeatable); "
                        "none here or in ConfigMap kube-system/lb-address-pools: node addresses")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=parse_duration,
                   default=15.0, help="how often each HPA is looked at (default 15s)")
    p.add_argument("--horizontal-pod-autoscaler-tolerance", type=float, default=0.1,
                   help="usage-to-target ratio off 1.0 by at most this: no change (0.1)")
    p.add_argument("--horizontal-pod-autoscaler-downscale-stabilization",
                   type=parse_duration, default=300.0,
                   help="scale-down window of an HPA without behavior (default 5m)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    import ipaddress

    from minikube_py.cli.main import CLIError
    from minikube_py.controllers import ControllerManagerSettings, run
    from minikube_py.controllers.lbpool import parse_pool
    from minikube_py.controllers.manager import selected
    from minikube_py.controllers.nodedisruption import DisruptionSettings

    for flag, path in (("--kubeconfig", args.kubeconfig),
                       ("--service-account-private-key-file",
                        args.service_account_private_key_file),
                       ("--root-ca-file", args.root_ca_file)):
        if path is not None and not Path(path).is_file():
            raise CLIError(f"{flag} {path}: no such file")
    controllers = tuple(c.strip() for c in args.controllers.split(",") if c.strip())
    try:
        selected(controllers)
    except ValueError as e:
        raise CLIError(f"--controllers: {e}") from e
    if args.node_monitor_grace_period <= 0 or args.node_monitor_period <= 0:
        raise CLIError("--node-monitor-grace-period and --node-monitor-period must be positive")
    if min(args.node_eviction_rate, args.secondary_node_eviction_rate,
           args.unhealthy_zone_threshold, args.large_cluster_size_threshold) < 0:
        raise CLIError("eviction rates and disruption thresholds must not be negative")
    if args.horizontal_pod_autoscaler_sync_period <= 0 or min(
            args.horizontal_pod_autoscaler_tolerance,
            args.horizontal_pod_autoscaler_downscale_stabilization) < 0:
        raise CLIError("--horizontal-pod-autoscaler-sync-period must be positive, its "
                       "tolerance and downscale stabilization not negative")
    try:  # nodeipam cuts it into /24s
        if ipaddress.IPv4Network(args.cluster_cidr).prefixlen > 24:
            raise ValueError("smaller than one node's /24")
    except ValueError as e:
        raise CLIError(f"--cluster-cidr {args.cluster_cidr}: {e}") from None
    if args.lb_address_pool:
        try:
            parse_pool("default", " ".join(args.lb_address_pool))
        except ValueError as e:
            raise CLIError(f"--lb-address-pool: {e}") from e
    disruption = DisruptionSettings(
        node_eviction_rate=args.node_eviction_rate,
        secondary_node_eviction_rate=args.secondary_node_eviction_rate,
        unhealthy_zone_threshold=args.unhealthy_zone_threshold,
        large_cluster_size_threshold=args.large_cluster_size_threshold)
    settings = ControllerManagerSettings(
        kubeconfig=args.kubeconfig,
        controllers=controllers,
        leader_election=leader_settings(args, "kube-controller-manager"),
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_monitor_period=args.node_monitor_period,
        pod_eviction_timeout=args.pod_eviction_timeout,
        disruption=disruption,
        cluster_cidr=args.cluster_cidr,
        service_account_private_key_file=args.service_account_private_key_file,
        root_ca_file=args.root_ca_file,
        use_service_account_credentials=args.use_service_account_credentials,
        lb_address_pools=tuple(args.lb_address_pool),
        hpa_sync_period=args.horizontal_pod_autoscaler_sync_period,
        hpa_tolerance=args.horizontal_pod_autoscaler_tolerance,
        hpa_downscale_stabilization=args.horizontal_pod_autoscaler_downscale_stabilization,
    )
    import uvloop  # imported here, as the rest: `--help` stays fast

    from minikube_py.lifetime import run_until_signalled

    run_until_signalled(lambda: run(settings), uvloop.run)  # SIGTERM: hand the Lease back
    return 0
