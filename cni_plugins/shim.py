"""The installed CNI executable: forward to the netlink service, else run in-process.

Started as `python3 -IS` and importing nothing but `os`, `sys` and `_socket`
(json and socket alone cost ~10 ms of imports), so a call costs about one
bare interpreter start instead of ~130 ms of pyroute2 import. The service's
socket is named by the config's "socket" key (default
/run/minikube-py/cni.sock). When nothing answers there, or the service lives
in another network namespace, the request is handed unchanged to
`python -m cni_plugins` (the FALLBACK interpreter, filled in by install.py),
so any runtime works even without the agent.

Wire format (service.py reads it): "<netns inode>\\0K=V\\0...\\0\\0<stdin>";
answer "<rc>\\n<stdout>", rc "-" meaning "not for me, do it yourself".
"""

import _socket
import os
import sys

FALLBACK: list[str] = []  # install.py writes [python, "-m", "cni_plugins"] here
DEFAULT_SOCKET = b"/run/minikube-py/cni.sock"


def socket_path(data: bytes) -> bytes | None:
    """The "socket" value of the config, found without a JSON parser."""
    start = 0
    while True:
        i = data.find(b'"socket"', start)
        if i < 0:
            return DEFAULT_SOCKET
        rest = data[i + 8:].lstrip()
        if rest[:1] == b":":
            value = rest[1:].lstrip()
            end = value.find(b'"', 1)
            if value[:1] == b'"' and end > 0 and b"\\" not in value[:end]:
                return value[1:end]
            return None  # unusual spelling: let the full plugin read it
        start = i + 8


def ask_service(path: bytes, data: bytes) -> tuple[int, bytes] | None:
    """The service's (rc, stdout), or None when the caller must do the work itself."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(120)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    try:
        env = b"\0".join(f"{k}={v}".encode() for k, v in os.environ.items()
                         if k.startswith("CNI_") and v)
        ino = os.stat("/proc/self/ns/net").st_ino
        sock.sendall(b"%d\0%s\0\0%s" % (ino, env, data))
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, out = b"".join(chunks).partition(b"\n")
    if not head or head == b"-":
        return None
    return int(head), out


def exec_fallback(data: bytes) -> None:
    """Replace this process with the in-process plugin, stdin refilled with `data`."""
    if not FALLBACK:  # run from the source tree, never installed
        sys.stdout.write('{"cniVersion": "1.0.0", "code": 11, "msg": "the CNI netlink service '
                         'does not answer and this shim has no fallback interpreter"}')
        sys.exit(1)
    fd = os.memfd_create("cni-stdin")
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    os.execv(FALLBACK[0], FALLBACK)


def main() -> int:
    data = sys.stdin.buffer.read()
    path = socket_path(data)
    answer = ask_service(path, data) if path else None
    if answer is None:
        exec_fallback(data)  # does not return
        return 1
    rc, out = answer
    if out:
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
