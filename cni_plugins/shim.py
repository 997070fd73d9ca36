"""The installed CNI executable: forward to the netlink service, else run in-process.

Stdlib only and started as `python3 -I -S`, so a call costs ~10 ms of
interpreter start instead of ~130 ms of pyroute2 import. The service's socket
is named by the config's "socket" key (default /run/minikube-py/cni.sock).
When nothing answers there, or the service lives in another network
namespace, the request is handed unchanged to `python -m cni_plugins` (the
FALLBACK interpreter, filled in by install.py), so any runtime works even
without the agent.
"""

import json
import os
import socket
import sys

FALLBACK = None  # install.py writes [python, "-m", "cni_plugins"] here
DEFAULT_SOCKET = "/run/minikube-py/cni.sock"


def _ask_service(path, env, data):
    """The service's (rc, stdout), or None when the caller must do the work itself."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(120)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    with sock:
        sock.sendall(json.dumps({"env": env, "stdin": data.decode("utf-8", "replace"),
                                 "netns_ino": os.stat("/proc/self/ns/net").st_ino}).encode())
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    reply = json.loads(b"".join(chunks) or b'{"rc": null}')
    return None if reply["rc"] is None else (reply["rc"], reply["stdout"])


def _exec_fallback(data):
    """Replace this process with the in-process plugin, stdin refilled with `data`."""
    fd = os.memfd_create("cni-stdin")
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    os.execv(FALLBACK[0], FALLBACK)


def main():
    data = sys.stdin.buffer.read()
    env = {k: v for k, v in os.environ.items() if k.startswith("CNI_")}
    try:
        path = json.loads(data).get("socket") or DEFAULT_SOCKET
    except (ValueError, AttributeError):
        path = None  # let the plugin itself report the decoding error
    answer = _ask_service(path, env, data) if path else None
    if answer is None:
        _exec_fallback(data)
    rc, out = answer
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
