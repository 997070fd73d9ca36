"""`minikube-py etcd snapshot save|ls|restore|prune`: k3s's `etcd-snapshot` for the
api-server's embedded etcd (store/snapshots.py); `etcd certs`: the etcd CA and a
member's certificates for an etcd run by systemd (kubeadm's `init phase certs etcd-*`);
`etcd member`: membership (cli/etcd_member.py)."""

from __future__ import annotations

import argparse
import datetime
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from minikube_py.api.meta import format_time
from minikube_py.cli import etcd_member

if TYPE_CHECKING:
    from minikube_py.store.snapshots import Snapshot

ETCD_DATA_DIR = Path("/var/lib/minikube-py/etcd")  # systemd/minikube-py-etcd.service's


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("etcd", help="operate the api-server's embedded etcd")
    commands = p.add_subparsers(dest="etcd_command", required=True)
    certs = commands.add_parser("certs", help="make the etcd CA (if missing) and this "
                                "member's server, peer and api-server client certificates")
    etcd_member.add_data_dir(certs)
    certs.add_argument("--ip", action="append", default=[],
                       help="an address the member serves on (repeatable; the host's own "
                            "addresses are always included)")
    certs.set_defaults(func=_certs)
    snapshot = commands.add_parser(
        "snapshot", help="save, list, restore and prune etcd snapshots")
    verbs = snapshot.add_subparsers(dest="snapshot_command", required=True)
    for verb, help_ in (("save", "save a snapshot now (on-demand-<node>-<unix time>)"),
                        ("ls", "list the snapshots"),
                        ("restore", "replace etcd's data with a snapshot (api-server stopped)"),
                        ("prune", "delete all but the newest snapshots")):
        v = verbs.add_parser(verb, help=help_)
        etcd_member.add_data_dir(v)
        if verb in ("save", "prune"):  # ls and restore take every snapshot, whatever its name
            v.add_argument("--name", default="on-demand",
                           help="snapshot name prefix (on-demand)")
        if verb == "save":
            v.add_argument("--etcd-servers", default="",
                           help="etcd client URL to snapshot (default: the embedded etcd's; "
                                "install.sh hosts: https://127.0.0.1:2379)")
            etcd_member.add_tls_flags(v)
        if verb == "restore":
            v.add_argument("snapshot", type=Path, help="a snapshot file (or its name)")
            v.add_argument("--peer-url", default="",
                           help="restore the member at this https://IP:2380 (an etcd run on "
                                "its own, install.sh's unit) as the only member of a new "
                                "cluster, which the others rejoin (`etcd member add`); "
                                "default: the api-server's embedded etcd")
            v.add_argument("--member-name", default="",
                           help="with --peer-url: the member's name (default: host name)")
            v.add_argument("--etcd-data-dir", type=Path, default=ETCD_DATA_DIR,
                           help=f"with --peer-url: its data dir (default {ETCD_DATA_DIR})")
        if verb == "prune":
            v.add_argument("--retention", type=int, default=5, help="how many to keep (5)")
        v.set_defaults(func=_main)
    etcd_member.add_commands(commands)


def _main(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.store import snapshots

    directory = snapshots.snapshot_dir(args.data_dir)
    try:
        if args.snapshot_command == "save":
            endpoint = args.etcd_servers.split(",")[0] or snapshots.client_url(args.data_dir)
            snap = snapshots.save(endpoint, directory, args.name,
                                  tls=etcd_member.client_tls(args, endpoint))
            print(f"Snapshot {snap.name} saved.")
        elif args.snapshot_command == "ls":
            _print_table(snapshots.ls(directory))
        elif args.snapshot_command == "prune":
            if args.retention < 1:
                raise CLIError("--retention must be at least 1")
            for snap in snapshots.prune(directory, args.retention, args.name):
                print(f"Removed snapshot {snap.name}")
        else:
            path = args.snapshot if args.snapshot.exists() else directory / args.snapshot
            if args.peer_url:
                target = snapshots.restore_member(
                    path, args.etcd_data_dir, name=args.member_name or socket.gethostname(),
                    peer_url=args.peer_url)
                print(f"Restored {path} into {target}; start etcd, then rejoin the other "
                      "members with their data wiped (etcd member add, then promote).")
            else:
                target = snapshots.restore(path, args.data_dir)
                print(f"Restored {path} into {target}; start the api-server to use it.")
    except snapshots.SnapshotError as e:
        raise CLIError(str(e)) from e
    return 0


def _certs(args: argparse.Namespace) -> int:
    import ipaddress

    from minikube_py.apiserver import etcd_pki
    from minikube_py.cli.main import CLIError
    for ip in args.ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise CLIError(f"--ip {ip}: not an IP address") from None
    made = etcd_pki.ensure(args.data_dir / "pki", ips=args.ip)
    print(f"etcd certificates in {made.ca_cert.parent} and {made.client_cert.parent}")
    return 0


def _print_table(snaps: list[Snapshot]) -> None:
    """k3s's `etcd-snapshot ls` columns."""
    rows = [("Name", "Location", "Size", "Created")]
    for s in snaps:
        created = datetime.datetime.fromtimestamp(s.created, datetime.UTC)
        rows.append((s.name, f"file://{s.path}", str(s.size),
                     format_time(created)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        line = " ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")
