"""The HAProxy process as the ingress controller drives it (minikube_py/ingress/proxy.py),
real haproxy: `haproxy -c` refuses a bad file in HAProxy's own words, and a reload the
master cannot carry out (its port taken) is reported while the running configuration
keeps serving: a configuration the proxy refuses is never what serves."""

from __future__ import annotations

import asyncio
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest

from minikube_py.ingress import certs, haproxy, routes
from minikube_py.ingress.proxy import HAProxy, Paths, ProxyError, Refused
from tests.fixtures import builders
from tests.fixtures.builders import ingress, ingress_backend, rule
from tests.fixtures.etcd import free_port
from tests.fixtures.tls import TestCA

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None,
                                reason="needs haproxy (bin/bootstrap installs it)")


def _config(port: int, answer: str) -> str:
    return f"""global
    hard-stop-after 5s
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string {answer}
"""


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return str(response.read().decode())


async def test_a_bad_configuration_is_refused_in_haproxys_words(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text(_config(free_port(), "x") + "    no-such-keyword on\n")
    with pytest.raises(Refused) as refused:
        await HAProxy(Paths(tmp_path)).check(bad)
    assert str(refused.value).startswith(
        f"config : parsing [{bad}:11] : unknown keyword 'no-such-keyword' in 'frontend'"), \
        refused.value
    assert "NOTICE" not in str(refused.value)


async def test_a_failed_reload_is_reported_and_the_running_config_keeps_serving(
        tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    port = free_port()
    paths.config.write_text(_config(port, "one"))
    proxy = HAProxy(paths)
    await proxy.start()
    try:
        assert await asyncio.to_thread(_get, port) == "one"
        with socket.socket() as taken:  # the new file binds a port someone else holds
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            paths.config.write_text(_config(port, "two") + f"frontend more\n"
                                    f"    bind 127.0.0.1:{busy}\n")
            await proxy.check(paths.config)  # `-c` does not bind: it passes
            with pytest.raises(ProxyError, match="could not load"):
                await proxy.reload()
        assert await asyncio.to_thread(_get, port) == "one"
        paths.config.write_text(_config(port, "two"))
        await proxy.reload()
        assert await asyncio.to_thread(_get, port) == "two"
    finally:
        await proxy.stop()
    assert not proxy.running


async def test_what_the_api_server_accepts_leaves_a_configuration_haproxy_takes(
        tmp_path: Path) -> None:
    """A path with a newline would end HAProxy's quoted argument, an FQDN slice's address
    be resolved at load, an RSA-1024 TLS Secret fail OpenSSL's security level: each got
    the file refused (every Ingress's routes frozen)."""
    backend = ingress_backend("web", 80)
    weak = builders.tls_secret("weak", *TestCA().issue("a.com", rsa_bits=1024))
    fqdn = builders.endpointslice(
        address_type="FQDN", ports=[{"name": "http", "port": 80}],
        endpoints=[{"addresses": ["nope.invalid"], "conditions": {"ready": True}}])
    table = routes.build([ingress(rules=[rule("a.com", ("/a\nb", "Prefix", backend),
                                              ("/ok", "Prefix", backend))],
                                  tls=[{"secretName": "weak"}])],
                         routes.Sources(service=lambda _: builders.service("web"),
                                        slices=lambda _: [fqdn], secret=lambda _: weak),
                         certs.pem_of)
    default = tmp_path / "default.pem"
    default.write_bytes(certs.self_signed())
    crt_list = tmp_path / "crt-list"
    files = {c.name: tmp_path / f"{c.name}.pem" for c in table.certificates}
    for c in table.certificates:
        files[c.name].write_bytes(c.pem)
    crt_list.write_text(haproxy.crt_list(table.certificates, files, default))
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy.render(table, haproxy.Listen("127.0.0.1", free_port(),
                                                           free_port(), crt_list)))
    await HAProxy(Paths(tmp_path)).check(config)
    assert "/ok" in config.read_text()
