"""`minikube-py trace SRC DST[:PORT]`: a packet's path through the nodes' real rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from minikube_py.cli.clusterargs import add_paths, paths_from
from minikube_py.cli.main import CLIError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "trace", help="show a packet's path from a pod through the nodes' rules",
        description="SRC is a pod (NAMESPACE/NAME, or NAME in default) or node/NAME (the "
                    "node's own stack); DST is a Service or pod ([svc/|pod/][NAMESPACE/]NAME, "
                    "namespace defaulting to SRC's) or an IPv4 address, with :PORT (a "
                    "Service's first port, a pod's first container port by default).")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST[:PORT]")
    p.add_argument("--probe", action="store_true",
                   help="send one real TCP connection from SRC and show which rules' "
                        "counters moved and the conntrack entry it made")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="admin kubeconfig (default /etc/minikube-py/admin.conf)")
    add_paths(p)
    p.set_defaults(func=_trace)


def _trace(args: argparse.Namespace) -> int:
    import asyncio

    from minikube_py.client import ApiClient
    from minikube_py.client.errors import ClientError, ConfigError
    from minikube_py.trace.collect import TraceError, run

    kubeconfig = args.kubeconfig or paths_from(args).admin_conf
    if not kubeconfig.exists():
        raise CLIError(f"no {kubeconfig}: is a cluster up?")

    async def go() -> dict[str, object]:
        async with ApiClient.from_kubeconfig(kubeconfig, retries=1) as client:
            return (await run(client, args.src, args.dst, args.probe)).as_dict()

    try:
        result = asyncio.run(go())
    except (TraceError, ClientError, ConfigError, OSError) as e:
        raise CLIError(f"trace: {e}") from e
    if args.output == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"trace {result['source']} -> {result['destination']}")
    hops = result["hops"]
    assert isinstance(hops, list)
    width = max((len(str(h["node"])) for h in hops), default=0)
    for i, hop in enumerate(hops, 1):
        moved = hop.get("counterDelta")
        mark = "" if moved is None else (f"  [+{moved}]" if moved else "  [+0]")
        print(f"{i:3} {hop['node']:<{width}}  {hop['text']}{mark}")
    print(f"outcome: {result['outcome']}")
    return 0
