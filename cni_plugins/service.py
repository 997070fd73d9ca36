"""The resident netlink service: the CNI plugin without the per-call import.

Importing pyroute2 costs ~110 ms and a whole reference ADD takes ~7 ms, so the
installed executable is a stdlib-only shim (shim.py) that forwards each call
here over a unix socket. This process keeps pyroute2 loaded and runs the very
same `plugin.run` in a thread per request (container namespaces are entered
per thread, see nsutil). It must run in the node's network namespace; a
request from another namespace is refused so the shim falls back to doing the
work itself.

Wire format: the client sends {"env", "stdin", "netns_ino"} and shuts down its
write side; we answer {"rc", "stdout"} (rc null = not for us, fall back).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import socketserver
import sys
import threading

from cni_plugins.plugin import run

log = logging.getLogger(__name__)
DEFAULT_SOCKET = "/run/minikube-py/cni.sock"


def netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.read())
            env = {k: str(v) for k, v in request["env"].items() if k.startswith("CNI_")}
            stdin = request["stdin"].encode()
            ino = int(request["netns_ino"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("cni service bad request error=%s", e)
            return
        if ino != self.server.netns_ino:  # type: ignore[attr-defined]
            reply: dict[str, object] = {"rc": None, "stdout": ""}
        else:
            rc, out = run(env, stdin)
            reply = {"rc": rc, "stdout": out}
        self.wfile.write(json.dumps(reply).encode())


class NetlinkService(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A threaded unix-socket server; stop with shutdown() + server_close()."""

    daemon_threads = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.netns_ino = netns_inode()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _remove_stale(path)
        super().__init__(path, _Handler)
        os.chmod(path, 0o600)

    def server_close(self) -> None:
        super().server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _remove_stale(path: str) -> None:
    """Take over a socket file nobody answers on; refuse to steal a live one."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise RuntimeError(f"a CNI netlink service already answers on {path}")


def start(path: str = DEFAULT_SOCKET) -> tuple[NetlinkService, threading.Thread]:
    """Serve in a daemon thread of this process (the agent's way)."""
    server = NetlinkService(path)
    thread = threading.Thread(target=server.serve_forever, name="cni-netlink-service",
                              daemon=True)
    thread.start()
    log.info("cni service listening socket=%s", path)
    return server, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="resident netlink service for the CNI shim")
    parser.add_argument("--socket", default=DEFAULT_SOCKET)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    import pyroute2  # noqa: F401  -- pay the import once, before the first request

    server = NetlinkService(args.socket)
    log.info("cni service listening socket=%s", args.socket)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
