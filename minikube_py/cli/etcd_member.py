"""`minikube-py etcd member list|add|promote|remove`: etcd membership for control-plane
hosts joining and leaving (store/members.py), as kubeadm does it on join and reset.
`add` prints the etcd.env lines the new member starts with."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikube_py.store.etcdtls import EtcdTLS

DEFAULT_DATA_DIR = Path("/var/lib/minikube-py/apiserver")  # install.sh's and `up`'s
DEFAULT_SERVERS = "https://127.0.0.1:2379"


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"the api-server's --data-dir (default {DEFAULT_DATA_DIR})")


def add_tls_flags(parser: argparse.ArgumentParser) -> None:
    for flag, what in (("cafile", "the etcd CA"), ("certfile", "client certificate"),
                       ("keyfile", "client key")):
        parser.add_argument(f"--etcd-{flag}", type=Path,
                            help=f"{what} for an https etcd (default: DATA_DIR/pki's)")


def client_tls(args: argparse.Namespace, endpoint: str) -> EtcdTLS | None:
    """The certificates to present: the flags', else the api-server's own (DATA_DIR/pki,
    as kubeadm lays it out) for an https etcd."""
    from minikube_py.apiserver import etcd_pki
    from minikube_py.cli.main import CLIError
    from minikube_py.store.etcdtls import EtcdTLS
    default = etcd_pki.paths(args.data_dir / "pki").client
    if args.etcd_cafile or args.etcd_certfile or args.etcd_keyfile:
        tls = EtcdTLS(args.etcd_cafile or default.ca_file, args.etcd_certfile or default.cert_file,
                      args.etcd_keyfile or default.key_file)
    elif endpoint.startswith("https://"):
        tls = default
    else:
        return None
    for path in (tls.ca_file, tls.cert_file, tls.key_file):
        if not path.is_file():
            raise CLIError(f"no {path}: run this on a control-plane host, or give --data-dir "
                           "(the api-server's) or --etcd-cafile/--etcd-certfile/--etcd-keyfile")
    return tls


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    member = commands.add_parser("member", help="list, add (as a learner), promote and "
                                 "remove etcd members")
    verbs = member.add_subparsers(dest="member_command", required=True)
    for verb, help_ in (("list", "the members, learners marked"),
                        ("add", "add NAME at --peer-url as a learner; prints its etcd.env"),
                        ("promote", "make learner NAME a voting member once caught up"),
                        ("remove", "remove member NAME")):
        v = verbs.add_parser(verb, help=help_)
        if verb != "list":
            v.add_argument("name", help="the member's name (its host's node name)")
        if verb == "add":
            v.add_argument("--peer-url", required=True, help="https://IP:2380 of the member")
        v.add_argument("--etcd-servers", default=DEFAULT_SERVERS,
                       help=f"members to ask (default {DEFAULT_SERVERS})")
        add_data_dir(v)
        add_tls_flags(v)
        v.set_defaults(func=_member)


def _member(args: argparse.Namespace) -> int:
    from minikube_py.cli.main import CLIError
    from minikube_py.store import members

    servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
    tls = client_tls(args, servers[0])
    try:
        if args.member_command == "list":
            found = asyncio.run(members.members(servers, tls))
            for m in found:
                sys.stdout.write(f"{m.member_id:x}, {'learner' if m.is_learner else 'voter'}, "
                                 f"{m.name or '(unstarted)'}, {','.join(m.peer_urls)}, "
                                 f"{','.join(m.client_urls)}\n")
        elif args.member_command == "add":
            if not args.peer_url.startswith("https://"):
                raise CLIError(f"--peer-url {args.peer_url}: members speak TLS (https://)")
            member_id, initial = asyncio.run(members.add_learner(
                servers, tls, args.name, args.peer_url))
            sys.stdout.write(f'MEMBER_ID="{member_id:x}"\nINITIAL_CLUSTER="{initial}"\n'
                             'CLUSTER_STATE="existing"\n')
        elif args.member_command == "promote":
            found = [m for m in asyncio.run(members.members(servers, tls))
                     if m.name == args.name]
            if not found:
                raise CLIError(f"no etcd member named {args.name!r}")
            asyncio.run(members.promote(servers, tls, found[0].member_id))
            sys.stdout.write(f"Member {found[0].member_id:x} promoted\n")
        else:
            member_id = asyncio.run(members.remove(servers, tls, args.name))
            sys.stdout.write(f"Member {member_id:x} removed\n")
    except members.MembershipError as e:
        raise CLIError(str(e)) from e
    return 0
