"""`minikube-py vip`: hold the control plane's floating API address by Lease (agent/vip.py)."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Coroutine
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("vip", help="hold the floating API address (kube-vip ARP mode)")
    p.add_argument("--kubeconfig", required=True, help="credentials to this node's api-server")
    p.add_argument("--address", required=True, help="the floating IPv4 address")
    p.add_argument("--interface", default="eth0", help="where to add and announce it")
    p.add_argument("--identity", default="", help="holder name in the Lease (the node name)")
    p.add_argument("--lease-duration", type=float, default=5.0,
                   help="seconds the Lease holds without renewal (5, kube-vip's)")
    p.add_argument("--renew-deadline", type=float, default=3.0,
                   help="a holder that cannot renew this long drops the address (3)")
    p.add_argument("--retry-period", type=float, default=1.0,
                   help="seconds between attempts (1)")
    p.add_argument("--peer-server", action="append", default=[], metavar="URL",
                   help="another control-plane node's api-server (repeatable): where this "
                        "node hands the Lease back when its own api-server is gone")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    import asyncio

    from agent.vip import VipSettings, run
    from minikube_py.cli.main import CLIError
    try:
        if ipaddress.ip_address(args.address).version != 4:
            raise ValueError("IPv4 only")
    except ValueError as e:
        raise CLIError(f"--address {args.address}: {e}") from None
    if not args.lease_duration > args.renew_deadline > args.retry_period * 1.2:
        raise CLIError("need --lease-duration > --renew-deadline > --retry-period * 1.2")
    settings = VipSettings(kubeconfig=args.kubeconfig, address=args.address,
                           interface=args.interface, identity=args.identity,
                           lease_duration=args.lease_duration,
                           renew_deadline=args.renew_deadline, retry_period=args.retry_period,
                           peers=tuple(args.peer_server))
    asyncio.run(_until_signalled(run(settings)))
    return 0


async def _until_signalled(work: Coroutine[Any, Any, None]) -> None:
    """SIGTERM or SIGINT cancel `work`, so the address is released and the Lease handed back
    before the process exits."""
    import asyncio
    import signal
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
