"""HAProxy's configuration from a route table (minikube_py/ingress/haproxy.py): a literal
golden text, so every rule and its order is checked, and the crt-list."""

from __future__ import annotations

from pathlib import Path

from minikube_py.ingress.haproxy import Listen, crt_list, quote, render
from minikube_py.ingress.routes import Backend, Certificate, Host, Route, RouteTable

LISTEN = Listen("127.0.0.1", 8080, 8443, Path("/s/crt-list.abc"), threads=2, drain_seconds=5)
TABLE = RouteTable(
    hosts=[Host("a.com", (Route("/api", "Exact", "ns_api_80"), Route("/", "Prefix", "ns_web_80"))),
           Host("*.b.com", (Route("/x/", "Prefix", "ns_web_80"),)),
           Host("", (Route("/any", "ImplementationSpecific", "ns_web_80"),))],
    backends={"ns_web_80": Backend("ns_web_80", (("10.244.0.5", 8080), ("fd00::5", 8080))),
              "ns_api_80": Backend("ns_api_80")})

GOLDEN = """\
# Written by minikube-py ingress; changes are overwritten.
global
    hard-stop-after 5s
    ssl-default-bind-options ssl-min-ver TLSv1.2
    nbthread 2

defaults
    mode http
    option idle-close-on-response
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s

frontend ingress
    bind 127.0.0.1:8080
    bind 127.0.0.1:8443 ssl crt-list "/s/crt-list.abc" alpn http/1.1
    http-request set-var(txn.host) req.hdr(host),field(1,:),lower
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
    use_backend be_ns_api_80 if { var(txn.host) -m str a.com } { path -m str "/api" }
    use_backend be_ns_web_80 if { var(txn.host) -m str a.com }
    use_backend be_ns_web_80 if { var(txn.host) -m reg ^[^.]+[.]b[.]com$ } { path -m str "/x" } \
|| { var(txn.host) -m reg ^[^.]+[.]b[.]com$ } { path -m beg "/x/" }
    use_backend be_default_404 if { var(txn.host) -m reg ^[^.]+[.]b[.]com$ }
    use_backend be_ns_web_80 if { path -m str "/any" } || { path -m beg "/any/" }
    default_backend be_default_404

backend be_ns_api_80
    balance roundrobin

backend be_ns_web_80
    balance roundrobin
    server s0 10.244.0.5:8080
    server s1 [fd00::5]:8080

backend be_default_404
    http-request return status 404 content-type text/plain string "default backend - 404"
"""


def test_golden_configuration() -> None:
    assert render(TABLE, LISTEN) == GOLDEN


def test_a_default_backend_replaces_the_404() -> None:
    table = RouteTable(hosts=[Host("a.com", (Route("/x", "Exact", "ns_web_80"),))],
                       default_backend="ns_web_80",
                       backends={"ns_web_80": Backend("ns_web_80")})
    text = render(table, LISTEN)
    assert "use_backend be_ns_web_80 if { var(txn.host) -m str a.com }\n" in text
    assert "default_backend be_ns_web_80\n" in text
    assert "be_default_404" not in text


def test_paths_are_quoted() -> None:
    assert quote('/a "b" $HOME\\') == '"/a \\"b\\" \\$HOME\\\\"'


def test_crt_list_puts_the_default_first_with_sni_filters_after() -> None:
    certs = [Certificate("ns_a", b"", ("a.com", "*.b.com"))]
    assert crt_list(certs, {"ns_a": Path("/c/ns_a.pem")}, Path("/c/default.pem")) == \
        "/c/default.pem\n/c/ns_a.pem a.com *.b.com\n"
