"""A RouteTable as HAProxy's configuration text (pure; golden-tested).

One frontend binds the HTTP and the TLS port (certificates chosen by SNI from a crt-list,
the self-signed default first). Requests are routed by `use_backend` rules in exactly the
order matching.py defines: precise hosts, then wildcards, then host-less rules; inside a
host the longest path first, Exact before Prefix; after each host's paths a rule sends the
host's other requests to the default backend, so they never fall through to another
host's rules. A Prefix `/foo` is `path == /foo or path begins with /foo/` (element-wise).

`option idle-close-on-response` keeps a reloading worker's idle keep-alive connections
open until they carry one more answer (with `Connection: close`), so a client never
writes into a socket the old worker just closed: measured, this is what makes a reload
lose no request (bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minikube_py.ingress.matching import normalize_prefix
from minikube_py.ingress.routes import Certificate, Host, Route, RouteTable

NOT_FOUND = "be_default_404"
HOST_VAR = "var(txn.host)"


@dataclass(frozen=True)
class Listen:
    bind_address: str
    http_port: int
    https_port: int
    crt_list: Path
    threads: int = 0
    drain_seconds: int = 30


def quote(text: str) -> str:
    """An HAProxy double-quoted argument (backslash, quote and '$' escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _address(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def host_condition(pattern: str) -> str:
    """Hosts are validated DNS names (a-z0-9.-), so a character-class regex needs no
    escaping: `*.foo.com` is one label, then `.foo.com`."""
    if pattern.startswith("*."):
        suffix = pattern[2:].replace(".", "[.]")
        return f"{{ {HOST_VAR} -m reg ^[^.]+[.]{suffix}$ }}"
    return f"{{ {HOST_VAR} -m str {pattern} }}"


def path_conditions(route: Route) -> list[str]:
    """Alternatives (ORed): one for Exact, two for a Prefix, none for a Prefix '/'."""
    if route.path_type == "Exact":
        return [f"{{ path -m str {quote(route.path)} }}"]
    prefix = normalize_prefix(route.path)
    if not prefix:
        return []
    return [f"{{ path -m str {quote(prefix)} }}", f"{{ path -m beg {quote(prefix + '/')} }}"]


def backend_id(name: str) -> str:
    return f"be_{name}"


def _host_rules(host: Host, fallback: str) -> list[str]:
    cond = host_condition(host.pattern) if host.pattern else ""
    lines = []
    for route in host.routes:
        alternatives = path_conditions(route)
        if not alternatives:
            lines.append(f"    use_backend {backend_id(route.backend)}" +
                         (f" if {cond}" if cond else ""))
            break  # everything below is shadowed
        joined = " || ".join(f"{cond} {a}".strip() for a in alternatives)
        lines.append(f"    use_backend {backend_id(route.backend)} if {joined}")
    else:
        if cond:
            lines.append(f"    use_backend {fallback} if {cond}")
    return lines


def _backend(name: str, servers: tuple[tuple[str, int], ...]) -> list[str]:
    lines = [f"backend {backend_id(name)}", "    balance roundrobin"]
    lines += [f"    server s{i} {_address(ip, port)}" for i, (ip, port) in enumerate(servers)]
    return lines


def render(table: RouteTable, listen: Listen) -> str:
    fallback = backend_id(table.default_backend) if table.default_backend else NOT_FOUND
    lines = [
        "# Written by minikube-py ingress; changes are overwritten.",
        "global",
        f"    hard-stop-after {listen.drain_seconds}s",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2",
    ]
    if listen.threads:
        lines.append(f"    nbthread {listen.threads}")
    lines += [
        "",
        "defaults",
        "    mode http",
        "    option idle-close-on-response",
        "    option forwardfor",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "",
        "frontend ingress",
        f"    bind {_address(listen.bind_address, listen.http_port)}",
        (f"    bind {_address(listen.bind_address, listen.https_port)} ssl crt-list "
        f"{quote(str(listen.crt_list))} alpn http/1.1"),
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
        "    http-request set-header X-Forwarded-Proto https if { ssl_fc }",
        "    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }",
    ]
    for host in table.hosts:
        lines += _host_rules(host, fallback)
    lines += [f"    default_backend {fallback}", ""]
    for backend in sorted(table.backends.values(), key=lambda b: b.name):
        lines += [*_backend(backend.name, backend.servers), ""]
    if fallback == NOT_FOUND:
        lines += [f"backend {NOT_FOUND}",
                  ('    http-request return status 404 content-type text/plain '
                  'string "default backend - 404"'), ""]
    return "\n".join(lines)


def crt_list(certificates: list[Certificate], file_of: dict[str, Path], default: Path) -> str:
    """The default certificate first (answers unknown SNI), then each Secret's with its
    hosts as SNI filters. Paths are ours (state dir, DNS-named files): crt-list lines
    take no quoting."""
    lines = [str(default)]
    for cert in certificates:
        lines.append(" ".join([str(file_of[cert.name]), *cert.hosts]))
    return "\n".join(lines) + "\n"
