"""The route table built from the caches (minikube_py/ingress/routes.py): backends by
Service port name or number resolved to ready endpoints, the oldest Ingress keeping a
contested path, TLS hosts, and the problems that become Events."""

from __future__ import annotations

from typing import Any

from minikube_py.api.meta import key
from minikube_py.ingress import certs
from minikube_py.ingress.routes import Backend, Problem, RouteTable, Sources, build
from tests.fixtures import builders
from tests.fixtures.builders import ingress, ingress_backend, rule
from tests.fixtures.tls import TestCA

Obj = dict[str, Any]
WEB = builders.service("web", ports=[{"name": "http", "port": 80, "targetPort": 8080},
                                      {"name": "admin", "port": 9000, "targetPort": 9000}])
SLICE = builders.endpointslice("web-1", service="web", ports=[
    {"name": "http", "port": 8080, "protocol": "TCP"},
    {"name": "admin", "port": 9000, "protocol": "TCP"}], endpoints=[
    {"addresses": ["10.244.0.5"], "conditions": {"ready": True}},
    {"addresses": ["10.244.0.6"]},
    {"addresses": ["10.244.0.7"], "conditions": {"ready": False}}])


def table(*ingresses: Obj, services: tuple[Obj, ...] = (WEB,), slices: tuple[Obj, ...] = (SLICE,),
          secrets: tuple[Obj, ...] = ()) -> RouteTable:
    by_key = {key(o): o for o in (*services, *secrets)}
    sources = Sources(
        service=by_key.get, secret=by_key.get,
        slices=lambda k: [s for s in slices if f"{s['metadata']['namespace']}/"
                          f"{s['metadata']['labels']['kubernetes.io/service-name']}" == k])
    return build(ingresses, sources, certs.pem_of)


def test_ports_by_number_and_name_resolve_to_ready_endpoints() -> None:
    t = table(ingress(rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", 80)),
                                  ("/admin", "Prefix", ingress_backend("web", "admin")))]))
    assert t.backends == {
        "default_web_80": Backend("default_web_80", (("10.244.0.5", 8080), ("10.244.0.6", 8080))),
        "default_web_admin": Backend("default_web_admin", (("10.244.0.5", 9000),
                                                           ("10.244.0.6", 9000)))}
    assert [(r.path, r.backend) for r in t.hosts[0].routes] == [
        ("/admin", "default_web_admin"), ("/", "default_web_80")]
    assert t.problems == []


def test_missing_service_or_port_keeps_an_empty_backend_and_a_problem() -> None:
    t = table(ingress(rules=[rule("a.com", ("/", "Prefix", ingress_backend("gone", 80)),
                                  ("/x", "Prefix", ingress_backend("web", 81)))]))
    assert t.backends["default_gone_80"].servers == ()
    assert t.backends["default_web_81"].servers == ()
    assert t.problems == [
        Problem("default/web", "ServiceNotFound", "service default/gone not found"),
        Problem("default/web", "ServicePortNotFound", "service default/web has no port 81")]


def test_oldest_ingress_keeps_a_contested_path_and_the_default_backend() -> None:
    old = ingress("old", rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", 80)))],
                  default_backend=ingress_backend("web", 80),
                  creation_timestamp="2026-01-01T00:00:00Z")
    new = ingress("new", rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", "admin")),
                                     ("/new", "Exact", ingress_backend("web", "admin")))],
                  default_backend=ingress_backend("web", "admin"),
                  creation_timestamp="2026-02-01T00:00:00Z")
    t = table(new, old)
    assert t.default_backend == "default_web_80"
    assert [(r.path, r.path_type, r.backend) for r in t.hosts[0].routes] == [
        ("/new", "Exact", "default_web_admin"), ("/", "Prefix", "default_web_80")]


def test_hosts_are_ordered_precise_wildcard_then_any() -> None:
    backend = ingress_backend("web", 80)
    t = table(ingress(rules=[rule(None, ("/", "Prefix", backend)),
                             rule("*.a.com", ("/", "Prefix", backend)),
                             rule("x.a.com", ("/", "Prefix", backend))]))
    assert [h.pattern for h in t.hosts] == ["x.a.com", "*.a.com", ""]


def test_tls_secrets_become_certificates_for_their_hosts() -> None:
    ca = TestCA()
    crt, key_pem = ca.issue("a.com", "b.com")
    good = builders.tls_secret("ab-tls", crt, key_pem)
    other_key = ca.issue("c.com")[1]
    mismatched = builders.tls_secret("bad-tls", crt, other_key)
    t = table(ingress(rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", 80)))],
                      tls=[{"hosts": ["a.com", "b.com"], "secretName": "ab-tls"},
                           {"secretName": "bad-tls"}, {"hosts": ["c.com"],
                                                        "secretName": "missing"}]),
              secrets=(good, mismatched))
    assert [(c.name, c.hosts) for c in t.certificates] == [("default_ab-tls", ("a.com", "b.com"))]
    assert t.certificates[0].pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" in t.certificates[0].pem
    assert [(p.reason, p.message) for p in t.problems] == [
        ("InvalidCertificate",
         "secret default/bad-tls: the private key does not match the certificate"),
        ("SecretNotFound", "secret default/missing not found")]


def test_resource_backends_are_reported_unsupported() -> None:
    t = table(ingress(default_backend={"resource": {"kind": "Bucket", "name": "b"}}))
    assert t.default_backend is None
    assert [p.reason for p in t.problems] == ["UnsupportedBackend"]


def test_a_path_with_a_control_character_is_dropped_with_a_problem() -> None:
    """The api-server accepts '/a\\nb' (as Kubernetes does), but a newline would end
    HAProxy's quoted argument: refused, one such path froze every Ingress's routes."""
    backend = ingress_backend("web", 80)
    t = table(ingress(rules=[rule("a.com", ("/a\nb", "Prefix", backend),
                                  ("/c\x00", "Exact", backend), ("/ok", "Prefix", backend))]))
    assert [r.path for r in t.hosts[0].routes] == ["/ok"]
    assert t.problems == [
        Problem("default/web", "InvalidPath", "path '/a\\nb' has a control character: ignored"),
        Problem("default/web", "InvalidPath", "path '/c\\x00' has a control character: ignored")]


def test_an_fqdn_slice_gives_no_servers() -> None:
    """Only IP slices are served, as kube-proxy does: a host name in a server line is
    resolved when HAProxy loads, so one that does not resolve got the file refused."""
    fqdn = builders.endpointslice("web-fqdn", service="web", address_type="FQDN", ports=[
        {"name": "http", "port": 80, "protocol": "TCP"}], endpoints=[
        {"addresses": ["nope.invalid"], "conditions": {"ready": True}}])
    t = table(ingress(rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", 80)))]),
              slices=(SLICE, fqdn))
    assert t.backends["default_web_80"].servers == (("10.244.0.5", 8080), ("10.244.0.6", 8080))


def test_a_pair_openssl_refuses_is_a_problem_not_a_certificate() -> None:
    """cryptography reads an RSA-1024 pair; OpenSSL's security level (HAProxy's) does not,
    and HAProxy refused the whole configuration for it: every Ingress's routes froze."""
    crt, key_pem = TestCA().issue("a.com", rsa_bits=1024)
    t = table(ingress(rules=[rule("a.com", ("/", "Prefix", ingress_backend("web", 80)))],
                      tls=[{"secretName": "weak"}]),
              secrets=(builders.tls_secret("weak", crt, key_pem),))
    assert t.certificates == []
    assert [(p.reason, p.message) for p in t.problems] == [
        ("InvalidCertificate", "secret default/weak: OpenSSL refuses it: ee key too small")]
