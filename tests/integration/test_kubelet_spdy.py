"""kubectl exec over SPDY/3.1 (kubectl 1.20, Debian's kubernetes-client) through a real
api-server to a real agent and dockerd; and the same exec over WebSocket (kubectl 1.32),
which must keep working beside it. Skips only when kubectl 1.20 cannot be obtained.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import pty
import select
import socket
import ssl
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.kubelet import spdy
from agent.kubelet.images import BUSYBOX_IMAGE
from minikube_py.api.resources import NODES, PODS
from minikube_py.client import ApiClient
from tests import pyclient_portforward
from tests.e2e.kubectl_cluster import KUBECTL_NEW, old_kubectl
from tests.fixtures.node_agent import Agent, create, is_running, make_pod, status_when
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]


@pytest.fixture(scope="module")
def kubectl_old() -> str:
    binary, why = old_kubectl()
    if binary is None:
        pytest.skip(f"kubectl 1.20 not available: {why}")
    return binary


@pytest.fixture
async def pod(agent: Agent, api: ApiClient) -> str:
    made = await create(api, make_pod(agent.node, [{"name": "c", "command": ["sleep", "3600"]}]))
    await status_when(api, made, is_running, what="Running")
    return str(made["metadata"]["name"])


def run(binary: str, apiserver: Any, *args: str, stdin: bytes | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([binary, "--kubeconfig", str(apiserver.kubeconfig), "-n", "default",
                           *args], input=stdin, capture_output=True, timeout=60, check=False)


async def test_old_kubectl_exec_piped_stdin_and_exit_code(kubectl_old: str, apiserver: Any,
                                                          pod: str) -> None:
    done = await asyncio.to_thread(run, kubectl_old, apiserver, "exec", "-i", pod, "--", "sh",
                                   "-c", "cat; echo out; echo err >&2; exit 7",
                                   stdin=b"piped-in\n")
    assert done.returncode == 7, done
    assert done.stdout == b"piped-in\nout\n", done
    assert done.stderr.startswith(b"err\n") and b"command terminated with exit code 7" \
        in done.stderr, done
    ok = await asyncio.to_thread(run, kubectl_old, apiserver, "exec", pod, "--", "true")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"", b""), ok


async def test_old_kubectl_streams_a_megabyte_each_way(kubectl_old: str, apiserver: Any,
                                                       pod: str, tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    done = await asyncio.to_thread(run, kubectl_old, apiserver, "exec", "-i", pod, "--", "sh",
                                   "-c", "cat > /tmp/blob; md5sum /tmp/blob; cat /tmp/blob",
                                   stdin=data)
    assert done.returncode == 0, done.stderr
    digest, rest = done.stdout.split(b"\n", 1)
    assert digest.split()[0].decode() == hashlib.md5(data).hexdigest()
    assert rest == data
    src = tmp_path / "f"
    src.write_bytes(data[:4096])
    cp = await asyncio.to_thread(run, kubectl_old, apiserver, "cp", str(src), f"{pod}:/tmp/cp")
    assert cp.returncode == 0, cp
    out = await asyncio.to_thread(run, kubectl_old, apiserver, "exec", pod, "--", "md5sum",
                                  "/tmp/cp")
    assert out.stdout.split()[0].decode() == hashlib.md5(data[:4096]).hexdigest(), out


async def test_old_kubectl_missing_command_fails_cleanly(kubectl_old: str, apiserver: Any,
                                                         pod: str) -> None:
    done = await asyncio.to_thread(run, kubectl_old, apiserver, "exec", pod, "--",
                                   "/no/such/binary")
    assert done.returncode != 0 and done.stderr, done


def _tty_session(binary: str, apiserver: Any, args: list[str], keys: bytes) -> tuple[int, str]:
    """kubectl `args` (exec -it, attach -it) on a real pty (kubectl sends the terminal size
    on the resize stream)."""
    master, slave = pty.openpty()
    os.set_blocking(master, True)
    subprocess.run(["stty", "-F", os.ttyname(slave), "rows", "33", "cols", "77"], check=True)
    proc = subprocess.Popen([binary, "--kubeconfig", str(apiserver.kubeconfig), "-n", "default",
                             *args], stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    output = b""
    try:
        os.write(master, keys)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    output += os.read(master, 4096)
                except OSError:  # EIO: the other side of the pty closed
                    break
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, output.decode(errors="replace")


async def test_old_kubectl_interactive_tty_with_resize(kubectl_old: str, apiserver: Any,
                                                      pod: str) -> None:
    code, text = await asyncio.to_thread(
        _tty_session, kubectl_old, apiserver, ["exec", "-it", pod, "--", "sh"],
        b"sleep 0.5; echo answer=$((6*7)); stty size; tty; exit 5\n")
    assert "answer=42" in text and "33 77" in text and "/dev/pts/" in text, text
    assert code == 5, text


async def test_new_kubectl_exec_over_websocket_still_works(apiserver: Any, pod: str) -> None:
    if not Path(KUBECTL_NEW).exists():
        pytest.skip(f"{KUBECTL_NEW} is not installed")
    done = await asyncio.to_thread(run, KUBECTL_NEW, apiserver, "exec", "-i", pod, "--", "sh",
                                   "-c", "cat; exit 3", stdin=b"ws\n")
    assert (done.returncode, done.stdout) == (3, b"ws\n"), done


@pytest.fixture
async def shell_pod(agent: Agent, api: ApiClient) -> str:
    """A pod whose main process is an interactive shell on a TTY (kubectl run -it's)."""
    made = await create(api, make_pod(agent.node, [{"name": "c", "command": ["sh"],
                                                    "stdin": True, "tty": True}]))
    await status_when(api, made, is_running, what="Running")
    return str(made["metadata"]["name"])


async def _base64_session(apiserver: Any, path: str, params: list[tuple[str, str]],
                          send: list[tuple[int, bytes]]) -> tuple[dict[int, bytes], Any]:
    """pods/exec or pods/attach through the api-server over v4.base64.channel.k8s.io:
    text messages only, each the channel's ASCII digit then base64; (output per channel,
    the final Status)."""
    out: dict[int, bytes] = {}
    async with apiserver.session() as s, s.ws_connect(
            path, params=params, protocols=["v4.base64.channel.k8s.io"]) as ws:
        assert ws.protocol == "v4.base64.channel.k8s.io"
        for channel, data in send:
            await ws.send_str(str(channel) + base64.b64encode(data).decode())
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
                break
            channel = int(msg.data[0])
            out[channel] = out.get(channel, b"") + base64.b64decode(msg.data[1:])
    return out, json.loads(out.get(3, b"null"))


async def test_exec_and_attach_over_base64_channels(apiserver: Any, pod: str,
                                                    shell_pod: str) -> None:
    base = "/api/v1/namespaces/default/pods"
    out, status = await _base64_session(
        apiserver, f"{base}/{pod}/exec",
        [("command", "sh"), ("command", "-c"),
         ("command", "read line; echo got=$line; echo err >&2; exit 3"),
         ("stdin", "true"), ("stdout", "true"), ("stderr", "true")], [(0, b"x\n")])
    assert (out[1], out[2]) == (b"got=x\n", b"err\n")
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    out, status = await _base64_session(
        apiserver, f"{base}/{pod}/exec",
        [("command", "sh"), ("command", "-c"), ("command", "sleep 0.5; stty size"),
         ("stdin", "true"), ("stdout", "true"), ("tty", "true")],
        [(4, json.dumps({"Width": 100, "Height": 40}).encode())])
    assert out[1].strip() == b"40 100" and status == {"metadata": {}, "status": "Success"}
    out, status = await _base64_session(
        apiserver, f"{base}/{shell_pod}/attach",
        [("stdin", "true"), ("stdout", "true"), ("tty", "true")],
        [(0, b"echo answer=$((6*7)); exit\n")])
    assert b"answer=42" in out[1] and status["status"] == "Success"


@pytest.mark.parametrize("which", ["old", "new"])
async def test_attach_tty_with_resize(which: str, kubectl_old: str, apiserver: Any,
                                      shell_pod: str) -> None:
    """kubectl attach -it (SPDY from 1.20, WebSocket from 1.32) reaches the main process
    on its TTY; the session ends when that process does, with kubectl's exit code 0."""
    binary = kubectl_old if which == "old" else KUBECTL_NEW
    if not Path(binary).exists():
        pytest.skip(f"{binary} is not installed")
    code, text = await asyncio.to_thread(
        _tty_session, binary, apiserver, ["attach", "-it", shell_pod],
        b"sleep 0.5; echo answer=$((6*7)); stty size; tty; exit 5\n")
    assert "answer=42" in text and "33 77" in text and "/dev/pts/" in text, text
    assert code == 0, text


async def test_run_interactive_rm_pipes_stdin_and_deletes_the_pod(
        agent: Agent, api: ApiClient, apiserver: Any) -> None:
    """kubectl run -i --rm: the pod is made with stdin/stdinOnce, attached once Running
    (stdin piped in, output back), then kubectl waits for it to finish and deletes it."""
    if not Path(KUBECTL_NEW).exists():
        pytest.skip(f"{KUBECTL_NEW} is not installed")
    name = f"run-{os.urandom(4).hex()}"
    overrides = json.dumps({"spec": {"nodeName": agent.node,
                                     "terminationGracePeriodSeconds": 1}})
    done = await asyncio.to_thread(
        run, KUBECTL_NEW, apiserver, "run", name, "-i", "--rm", "--restart=Never",
        f"--image={BUSYBOX_IMAGE}", f"--overrides={overrides}", "--", "sh", "-c",
        "read line; echo got:$line; echo err:$line >&2", stdin=b"hello\n")
    assert done.returncode == 0, done
    assert b"got:hello" in done.stdout and b"err:hello" in done.stdout + done.stderr, done
    assert f'pod "{name}" deleted'.encode() in done.stdout + done.stderr, done

    async def gone() -> bool:
        return not [p for p in (await api.list(PODS, "default"))["items"]
                    if p["metadata"]["name"] == name]
    await eventually(gone, 30, what=f"pod {name} deleted")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortForward:
    """A running `kubectl port-forward pod/<pod> <local>:<remote>`; `stop()` -> its stderr."""

    def __init__(self, binary: str, apiserver: Any, pod: str, remote: int) -> None:
        self.local = _free_port()
        self.proc = subprocess.Popen([binary, "--kubeconfig", str(apiserver.kubeconfig), "-n",
                                      "default", "port-forward", f"pod/{pod}",
                                      f"{self.local}:{remote}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith(b"Forwarding from 127.0.0.1:"):
            raise AssertionError(f"port-forward did not start: {line!r} {self.stop()}")

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        return err.decode()


SEQ_LINES = 300_000
SEQ = "".join(f"{i}\n" for i in range(1, SEQ_LINES + 1)).encode()


def _through_port_forward(binary: str, apiserver: Any, pod: str, remote: int) -> list[str]:
    """Two HTTP GETs through `kubectl port-forward` (two connections, two stream pairs)."""
    pf = PortForward(binary, apiserver, pod, remote)
    try:
        bodies = []
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{pf.local}/", timeout=20) as resp:
                bodies.append(resp.read().decode())
        return bodies
    finally:
        pf.stop()


@pytest.fixture
async def web_pod(agent: Agent, api: ApiClient) -> str:
    """A pod serving HTTP on its loopback only: reachable only from inside its netns
    (index.html names the pod; /seq is SEQ, some megabytes)."""
    made = await create(api, make_pod(agent.node, [{"name": "c", "command": [
        "sh", "-c", ("mkdir /www && echo pf-$HOSTNAME > /www/index.html && "
                    f"seq 1 {SEQ_LINES} > /www/seq && exec httpd -f -p 127.0.0.1:8080 -h /www")],
        "readinessProbe": {"periodSeconds": 1, "exec": {"command": [
            "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]}}}]))
    await status_when(api, made, lambda st: is_running(st) and all(
        c.get("ready") for c in st["containerStatuses"]), what="Ready (httpd listening)")
    return str(made["metadata"]["name"])


@pytest.mark.parametrize(("which", "protocol"), [("old", "spdy"), ("new", "websocket-tunnel")])
async def test_port_forward_reaches_the_pods_loopback(which: str, protocol: str,
                                                      kubectl_old: str, apiserver: Any,
                                                      web_pod: str) -> None:
    """kubectl 1.20 speaks SPDY; 1.32 tunnels SPDY in a WebSocket (the api-server logs
    which it served: a refused tunnel would have fallen back to SPDY unseen)."""
    binary = kubectl_old if which == "old" else KUBECTL_NEW
    if not Path(binary).exists():
        pytest.skip(f"{binary} is not installed")
    bodies = await asyncio.to_thread(_through_port_forward, binary, apiserver, web_pod, 8080)
    assert bodies == [f"pf-{web_pod}\n"] * 2
    served = f"port-forward protocol={protocol} pod=default/{web_pod}"
    assert served in apiserver.log_file.read_text()


def _python_client_port_forward(apiserver: Any, pod: str) -> tuple[bytes, str | None]:
    """GET /seq through port 8080, and the error for port 9 where nothing listens."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]  # untyped
        config_file=str(apiserver.kubeconfig))
    try:
        return pyclient_portforward.exchange(client.CoreV1Api(api_client), pod, "default",
                                             8080, 9, b"GET /seq HTTP/1.0\r\n\r\n")
    finally:
        api_client.close()


async def test_python_client_port_forward_over_websocket_channels(apiserver: Any, api: ApiClient,
                                                                  web_pod: str) -> None:
    """Megabytes through a port on the pod's loopback, and port 9 failing on its error
    channel with the kubelet's message, in one WebSocket."""
    response, error = await asyncio.to_thread(_python_client_port_forward, apiserver, web_pod)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and body == SEQ, head
    uid = (await api.get(PODS, web_pod, "default"))["metadata"]["uid"]
    assert error is not None, "nothing on port 9's error channel"
    assert error.startswith(f"error forwarding port 9 to pod {web_pod}_default, uid {uid}: "
                            "failed to connect to localhost:9 inside namespace"), error
    assert error.endswith("dial tcp4 127.0.0.1:9: connect: connection refused"), error
    served = f"port-forward protocol=websocket-channels pod=default/{web_pod}"
    assert served in apiserver.log_file.read_text()


async def test_port_forward_over_base64_channels(apiserver: Any, web_pod: str) -> None:
    """pods/portforward over v4.base64.channel.k8s.io: each channel opens with its port
    (2 bytes little endian), data both ways in text messages, port 9's error on its
    error channel."""
    got: dict[int, bytes] = {}
    async with apiserver.session() as s, s.ws_connect(
            f"/api/v1/namespaces/default/pods/{web_pod}/portforward",
            params=[("ports", "8080"), ("ports", "9")],
            protocols=["v4.base64.channel.k8s.io"]) as ws:
        assert ws.protocol == "v4.base64.channel.k8s.io"
        await ws.send_str("0" + base64.b64encode(b"GET / HTTP/1.0\r\n\r\n").decode())
        while not (f"pf-{web_pod}".encode() in got.get(0, b"") and len(got.get(3, b"")) > 2):
            msg = await asyncio.wait_for(ws.receive(), 20)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            channel = ord(msg.data[0]) - ord("0")
            got[channel] = got.get(channel, b"") + base64.b64decode(msg.data[1:])
    assert got[0][:2] == (8080).to_bytes(2, "little") and got[0][2:].startswith(b"HTTP/1.")
    assert got[1] == (8080).to_bytes(2, "little") and got[2] == (9).to_bytes(2, "little")
    assert got[3][2:].decode().startswith(f"error forwarding port 9 to pod {web_pod}_default")


async def _refused_upgrade(apiserver: Any, path: str, upgrade: str,
                           protocols: list[str]) -> tuple[int, dict[str, Any]]:
    headers = [("Connection", "Upgrade"), ("Upgrade", upgrade)]
    headers += [("X-Stream-Protocol-Version", p) for p in protocols]
    async with apiserver.session() as http, http.post(path, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_refused_upgrades_are_a_status_and_nothing_is_upgraded(apiserver: Any, pod: str,
                                                                     api: ApiClient) -> None:
    base = f"/api/v1/namespaces/default/pods/{pod}"
    code, st = await _refused_upgrade(apiserver, f"{base}/exec?command=true&stdout=1",
                                      "SPDY/3.1", ["channel.k8s.io"])
    assert (code, st["kind"], st["reason"]) == (403, "Status", "Forbidden"), st
    assert "unable to negotiate protocol" in st["message"], st
    code, st = await _refused_upgrade(apiserver, f"{base}/exec?command=true", "h2c", [])
    assert (code, st["reason"]) == (400, "BadRequest") and "SPDY/3.1" in st["message"], st
    code, st = await _refused_upgrade(apiserver, f"{base}/portforward", "h2c", [])
    assert code == 400 and "needs a WebSocket or SPDY/3.1 upgrade" in st["message"], st
    for query, message in [  # kube-apiserver's conversion, then the kubelet's checks
            ("?ports=80,http", ('cannot convert to []int32: strconv.ParseUint: parsing "http": '
                                "invalid syntax")),
            ("?ports=0", 'port "0" must be > 0'),
            ("", 'query parameter "port" is required')]:
        code, st = await _refused_upgrade(apiserver, f"{base}/portforward{query}", "websocket",
                                          [])
        assert (code, st["reason"], st["message"]) == (400, "BadRequest", message), st
    code, st = await _refused_upgrade(apiserver, "/api/v1/namespaces/default/pods/absent-pod/"
                                      "portforward", "SPDY/3.1", ["portforward.k8s.io"])
    assert (code, st["reason"]) == (404, "NotFound"), st
    # The pod is still there, untouched.
    assert (await api.get(PODS, pod, "default"))["status"]["phase"] == "Running"


def _forward_to_closed_port(binary: str, apiserver: Any, pod: str) -> tuple[bytes, str]:
    pf = PortForward(binary, apiserver, pod, 9)
    try:
        with socket.create_connection(("127.0.0.1", pf.local), timeout=20) as conn:
            got = conn.recv(100)  # the forward fails: closed without data
    finally:
        err = pf.stop()
    return got, err


@pytest.mark.parametrize("which", ["old", "new"])
async def test_port_forward_to_a_closed_port_reports_the_error(which: str, kubectl_old: str,
                                                               apiserver: Any,
                                                               web_pod: str) -> None:
    """kubectl prints what the kubelet wrote on the error stream (SPDY, or SPDY in the
    WebSocket tunnel) and closes the local connection."""
    binary = kubectl_old if which == "old" else KUBECTL_NEW
    if not Path(binary).exists():
        pytest.skip(f"{binary} is not installed")
    got, err = await asyncio.to_thread(_forward_to_closed_port, binary, apiserver, web_pod)
    assert got == b""
    assert f"error forwarding port 9 to pod {web_pod}_default, uid " in err, err
    assert "connect: connection refused" in err, err


async def _spdy_exec(port: int, token: str, pod: str, query: str, protocol: str,
                     types: list[str]) -> tuple[str, dict[str, bytes]]:
    """A minimal SPDY client straight to the kubelet: the chosen protocol and what each
    stream carried until the kubelet's GOAWAY."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_insecure())
    try:
        writer.write((f"POST /exec/default/{pod}/c?{query} HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {token}\r\nConnection: Upgrade\r\n"
                      f"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {protocol}\r\n"
                      "Content-Length: 0\r\n\r\n").encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        assert head.startswith("HTTP/1.1 101"), head
        chosen = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                      if line.lower().startswith("x-stream-protocol-version:"))
        enc, frames = spdy.HeaderEncoder(), spdy.FrameDecoder()
        ids = {1 + 2 * i: t for i, t in enumerate(types)}
        for sid, stype in ids.items():
            writer.write(spdy.control(spdy.SYN_STREAM, struct.pack(">IIBB", sid, 0, 0, 0)
                                      + enc.encode({"streamtype": [stype]})))
        got: dict[str, bytes] = dict.fromkeys(types, b"")
        while chunk := await asyncio.wait_for(reader.read(65536), 30):
            for f in frames.feed(chunk):
                if isinstance(f, spdy.Data):
                    got[ids[f.stream_id]] += f.data
                elif f.kind == spdy.GOAWAY:
                    return chosen, got
        return chosen, got
    finally:
        writer.close()


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


async def test_v3_client_gets_v3_and_the_failure_as_text(agent: Agent, api: ApiClient,
                                                         apiserver: Any, pod: str) -> None:
    node = await api.get(NODES, agent.node)
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    query = "command=sh&command=-c&command=echo+o%3B+echo+e+%3E%262%3B+exit+4&stdout=1&stderr=1"
    chosen, got = await _spdy_exec(port, apiserver.token, pod, query, "v3.channel.k8s.io",
                                   ["error", "stdout", "stderr"])
    assert chosen == "v3.channel.k8s.io"
    assert (got["stdout"], got["stderr"]) == (b"o\n", b"e\n")
    assert got["error"].startswith(b"command terminated with non-zero exit code"), got
    chosen, got = await _spdy_exec(port, apiserver.token, pod, "command=true&stdout=1",
                                   "v4.channel.k8s.io", ["error", "stdout"])
    assert chosen == "v4.channel.k8s.io" and json.loads(got["error"]) == {
        "metadata": {}, "status": "Success"}
