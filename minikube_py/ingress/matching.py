"""Kubernetes' Ingress matching rules, as pure functions (the reference the HAProxy
rendering is ordered by and tested against).

- Hosts: a precise host matches itself (case-insensitively, port ignored); `*.foo.com`
  matches exactly one more label (`bar.foo.com`, never `foo.com` or `a.bar.foo.com`); a
  rule without host matches every host. Precise hosts are tried first, then wildcards,
  then host-less rules; the first tier holding a host match decides, and a request that
  matches its host but none of its paths gets the default backend there.
- Paths: Exact is the whole path, case-sensitive. Prefix is element-wise on '/': `/foo`
  (or `/foo/`) matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`; `/` matches all.
  ImplementationSpecific is served as Prefix here.
- The longest matching path wins; on equal length Exact beats Prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class PathRule(Protocol):
    @property
    def path(self) -> str: ...

    @property
    def path_type(self) -> str: ...


def normalize_prefix(path: str) -> str:
    """The prefix without its trailing '/' ('' for '/': every path)."""
    return path.rstrip("/")


def host_matches(pattern: str, host: str) -> bool:
    host = host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()
    if not pattern:
        return True
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern


def host_tier(pattern: str) -> int:
    """0 precise, 1 wildcard, 2 any host: the order hosts are tried in."""
    return 2 if not pattern else 1 if pattern.startswith("*.") else 0


def path_matches(path_type: str, pattern: str, path: str) -> bool:
    if path_type == "Exact":
        return path == pattern
    prefix = normalize_prefix(pattern)
    return not prefix or path == prefix or path.startswith(prefix + "/")


R = TypeVar("R", bound=PathRule)


def precedence(rule: PathRule) -> tuple[int, int]:
    """Sort key: longer paths first, Exact before Prefix at equal length."""
    length = len(rule.path if rule.path_type == "Exact" else normalize_prefix(rule.path))
    return (-length, 0 if rule.path_type == "Exact" else 1)


def best_path(rules: Sequence[R], path: str) -> R | None:
    """The rule Kubernetes picks for `path` among one host's rules (first on ties)."""
    for rule in sorted(rules, key=precedence):
        if path_matches(rule.path_type, rule.path, path):
            return rule
    return None
