"""Benchmark: what one mutating admission webhook adds to a create's latency.

One api-server and one webhook process (aiohttp over TLS with a CA made here, the
caBundle in the configuration) that answers every review with a one-operation JSONPatch.
The configuration selects objects labelled `hooked: "yes"`; rounds alternate creating
such ConfigMaps (the webhook is called and its patch stored) with unlabelled ones (same
path, no webhook), one request at a time, and compare the medians. The figure is the
median over rounds of p50(hooked) - p50(plain) (goal < 2 ms, issue #18).

Usage: .venv/bin/python bench/webhook.py [--n 300] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ssl
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.support import alternated_rounds, free_port, scratch_apiserver, stop
from minikube_py.apiserver import pki

PATCH = base64.b64encode(orjson.dumps([{"op": "add", "path": "/metadata/annotations",
                                      "value": {"bench/mutated": "true"}}])).decode()


def make_tls(directory: Path) -> bytes:
    """A CA and its 127.0.0.1 serving certificate in `directory`; the CA's PEM."""
    ca, ca_key = pki.new_ca("bench-webhook-ca")
    cert, key = pki.issue(ca, ca_key, common_name="webhook", ips=["127.0.0.1"])
    pki.write_pair(directory / "webhook.crt", directory / "webhook.key", cert, key)
    return ca.public_bytes(serialization.Encoding.PEM)


def start_webhook(directory: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--serve", str(directory),
                             "--port", str(port)])


def serve(directory: Path, port: int) -> None:
    """The webhook process: allow everything, with a patch. A bare keep-alive HTTP/1.1
    loop over asyncio streams (no web framework), so the figure is the api-server's cost
    plus a round trip, not this server's."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                review = orjson.loads(await reader.readexactly(length))
                body = orjson.dumps({"apiVersion": "admission.k8s.io/v1",
                                     "kind": "AdmissionReview", "response": {
                                         "uid": review["request"]["uid"], "allowed": True,
                                         "patchType": "JSONPatch", "patch": PATCH}})
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(directory / "webhook.crt", directory / "webhook.key")
        server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=tls)
        async with server:
            await server.serve_forever()
    asyncio.run(main())


def configuration(port: int, ca: bytes) -> dict[str, Any]:
    return {"metadata": {"name": "bench"}, "webhooks": [{
        "name": "mutate.bench.example.com", "admissionReviewVersions": ["v1"],
        "sideEffects": "None", "objectSelector": {"matchLabels": {"hooked": "yes"}},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["configmaps"]}],
        "clientConfig": {"url": f"https://127.0.0.1:{port}/mutate",
                         "caBundle": base64.b64encode(ca).decode()}}]}


async def latencies(session: aiohttp.ClientSession, hooked: bool, tag: str,
                    n: int) -> list[float]:
    """Seconds per create, one at a time."""
    found = []
    for i in range(n):
        body = {"metadata": {"name": f"{tag}-{i}",
                             "labels": {"hooked": "yes" if hooked else "no"}},
                "data": {"k": "v" * 64}}
        start = time.perf_counter()
        async with session.post("/api/v1/namespaces/default/configmaps", json=body) as r:
            created = await r.json()
        found.append(time.perf_counter() - start)
        assert r.status == 201, created
        assert ("bench/mutated" in (created["metadata"].get("annotations") or {})) is hooked
    return found


async def main(n: int, rounds: int) -> None:
    with scratch_apiserver("bench-webhook-") as api:
        hook_port = free_port()
        ca = make_tls(api.tmp)
        hook = start_webhook(api.tmp, hook_port)
        try:
            async with api.session(1) as session:
                async with session.post("/apis/admissionregistration.k8s.io/v1/"
                                        "mutatingwebhookconfigurations",
                                        json=configuration(hook_port, ca)) as r:
                    assert r.status == 201, await r.text()
                for attempt in range(100):  # the index follows by watch; the webhook may start
                    try:
                        await latencies(session, True, f"warm{attempt}", 1)
                        break
                    except AssertionError:
                        await asyncio.sleep(0.1)
                await latencies(session, True, "warm-hooked", 100)
                await latencies(session, False, "warm-plain", 100)
                added = []
                for i, order in alternated_rounds(rounds, (True, False)):
                    p50 = {h: median(await latencies(
                        session, h, f"r{i}-{'hooked' if h else 'plain'}", n)) for h in order}
                    added.append(p50[True] - p50[False])
                    print(f"round {i}: p50 with webhook {p50[True] * 1e3:6.2f} ms  without "
                          f"{p50[False] * 1e3:6.2f} ms  added {added[-1] * 1e3:5.2f} ms",
                          flush=True)
            print(f"one mutating webhook adds p50 {median(added) * 1e3:.2f} ms per create "
                  f"(median of {rounds} rounds of {n}; goal < 2 ms)")
        finally:
            stop(hook)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
    else:
        asyncio.run(main(args.n, args.rounds))
