"""Kubernetes' Ingress matching rules (minikube_py/ingress/matching.py), as the
Ingress docs' examples table states them, and the route table's pick across hosts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from minikube_py.ingress.matching import best_path, host_matches, path_matches
from minikube_py.ingress.routes import Host, Route, RouteTable, select


@pytest.mark.parametrize(("path_type", "pattern", "path", "matches"), [
    # https://kubernetes.io/docs/concepts/services-networking/ingress/#examples
    ("Prefix", "/", "/", True), ("Prefix", "/", "/anything/at/all", True),
    ("Exact", "/foo", "/foo", True), ("Exact", "/foo", "/bar", False),
    ("Exact", "/foo", "/foo/", False), ("Exact", "/foo/", "/foo", False),
    ("Prefix", "/foo", "/foo", True), ("Prefix", "/foo", "/foo/", True),
    ("Prefix", "/foo/", "/foo", True), ("Prefix", "/foo/", "/foo/", True),
    ("Prefix", "/aaa/bb", "/aaa/bbb", False), ("Prefix", "/aaa/bbb", "/aaa/bbb", True),
    ("Prefix", "/aaa/bbb/", "/aaa/bbb", True), ("Prefix", "/aaa/bbb", "/aaa/bbb/", True),
    ("Prefix", "/aaa/bbb", "/aaa/bbb/ccc", True), ("Prefix", "/aaa/bbb", "/aaa/bbbxyz", False),
    ("ImplementationSpecific", "/foo", "/foo/bar", True),
    ("ImplementationSpecific", "/foo", "/foobar", False),
], ids=lambda v: str(v))
def test_path_matches(path_type: str, pattern: str, path: str, matches: bool) -> None:
    assert path_matches(path_type, pattern, path) is matches


@dataclass(frozen=True)
class R:
    path: str
    path_type: str


@pytest.mark.parametrize(("rules", "path", "chosen"), [
    pytest.param([R("/", "Prefix"), R("/aaa", "Prefix")], "/aaa/ccc", R("/aaa", "Prefix"),
                 id="longest prefix wins"),
    pytest.param([R("/", "Prefix"), R("/aaa", "Prefix")], "/ccc", R("/", "Prefix"),
                 id="falls back to /"),
    pytest.param([R("/foo", "Prefix"), R("/foo", "Exact")], "/foo", R("/foo", "Exact"),
                 id="Exact beats Prefix at equal length"),
    pytest.param([R("/foo", "Prefix"), R("/foo", "Exact")], "/foo/", R("/foo", "Prefix"),
                 id="Exact only for the exact path"),
    pytest.param([R("/aaa", "Prefix"), R("/aaa/bbb", "Prefix")], "/aaa/bbb/c",
                 R("/aaa/bbb", "Prefix"), id="element-wise longest"),
    pytest.param([R("/aaa/", "Prefix"), R("/aaa", "Exact")], "/aaa", R("/aaa", "Exact"),
                 id="trailing slash ignored for Prefix length"),
    pytest.param([R("/foo", "Exact")], "/bar", None, id="no match"),
])
def test_best_path(rules: list[R], path: str, chosen: R | None) -> None:
    assert best_path(rules, path) == chosen


@pytest.mark.parametrize(("pattern", "host", "matches"), [
    ("foo.bar.com", "foo.bar.com", True), ("foo.bar.com", "FOO.bar.com:8080", True),
    ("foo.bar.com", "bar.com", False),
    ("*.foo.com", "bar.foo.com", True), ("*.foo.com", "baz.bar.foo.com", False),
    ("*.foo.com", "foo.com", False), ("*.foo.com", ".foo.com", False),
    ("", "anything.example", True),
])
def test_host_matches(pattern: str, host: str, matches: bool) -> None:
    assert host_matches(pattern, host) is matches


TABLE = RouteTable(hosts=[
    Host("foo.bar.com", (Route("/api", "Prefix", "api"),)),
    Host("*.bar.com", (Route("/", "Prefix", "wild"),)),
    Host("", (Route("/", "Prefix", "any"),)),
], default_backend="fallback")


@pytest.mark.parametrize(("host", "path", "backend"), [
    pytest.param("foo.bar.com", "/api/x", "api", id="precise host"),
    pytest.param("foo.bar.com", "/other", "fallback",
                 id="precise host, no path: default, not the wildcard"),
    pytest.param("x.bar.com", "/other", "wild", id="wildcard"),
    pytest.param("a.x.bar.com", "/", "any", id="wildcard is one label: host-less rule"),
    pytest.param("elsewhere.org", "/", "any", id="host-less rule"),
])
def test_select_across_hosts(host: str, path: str, backend: str) -> None:
    assert select(TABLE, host, path) == backend
