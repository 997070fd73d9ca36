"""The resident netlink service: the CNI plugin without the per-call import.

Importing pyroute2 costs ~110 ms and a whole reference ADD takes ~7 ms, so the
installed executable is a stdlib-only shim (shim.py) that forwards each call
here over a unix socket. This process keeps pyroute2 loaded and runs the very
same `plugin.run` in a thread per request (container namespaces are entered
per thread, see nsutil). It must run in the node's network namespace; a
request from another namespace is refused so the shim falls back to doing the
work itself.

Wire format: see shim.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import socket
import socketserver
import sys
import threading
from typing import Any

from cni_plugins.nsutil import close_host_socket, keep_host_socket, warm_up
from cni_plugins.plugin import run

log = logging.getLogger(__name__)
DEFAULT_SOCKET = "/run/minikube-py/cni.sock"


def netns_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def parse_request(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split the shim's "<ino>\\0K=V\\0...\\0\\0<stdin>" into its parts."""
    head, sep, stdin = raw.partition(b"\0\0")
    if not sep:
        raise ValueError("no end of environment")
    ino, *pairs = head.decode().split("\0")
    env = dict(pair.partition("=")[::2] for pair in pairs)
    return int(ino), {k: v for k, v in env.items() if k.startswith("CNI_")}, stdin


class _Handler(socketserver.StreamRequestHandler):
    server: NetlinkService

    def handle(self) -> None:
        try:
            ino, env, stdin = parse_request(self.rfile.read())
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("cni service bad request error=%s", e)
            return
        if ino != self.server.netns_ino:
            self.wfile.write(b"-\n")
            return
        rc, out = run(env, stdin)
        self.wfile.write(b"%d\n%s" % (rc, out.encode()))


class NetlinkService(socketserver.UnixStreamServer):
    """Unix-socket server handing requests to a fixed pool of netlink workers.

    Workers are long-lived so each keeps its node-side netlink socket
    (nsutil.keep_host_socket; pyroute2 state is per thread, so each closes its
    own on exit). They start with the server, in the namespace of the thread
    that made it. Stop with shutdown() + server_close().
    """

    def __init__(self, path: str, workers: int = 8) -> None:
        self.path = path
        self.netns_ino = netns_inode()
        self.requests: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self.workers = [threading.Thread(target=self._work, name=f"cni-netlink-{i}",
                                         daemon=True) for i in range(workers)]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _remove_stale(path)
        super().__init__(path, _Handler)
        os.chmod(path, 0o600)
        for worker in self.workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.requests.put((request, client_address))

    def _work(self) -> None:
        keep_host_socket()
        try:
            while (item := self.requests.get()) is not None:
                request, client_address = item
                try:
                    self.finish_request(request, client_address)
                except Exception:  # one bad request must not kill a worker
                    log.exception("cni service request failed")
                finally:
                    self.shutdown_request(request)
        finally:
            close_host_socket()

    def server_close(self) -> None:
        super().server_close()
        for _ in self.workers:
            self.requests.put(None)
        for worker in self.workers:
            worker.join()
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
    warm_up()
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
    warm_up()  # pay pyroute2's import and message compilation before the first request
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
