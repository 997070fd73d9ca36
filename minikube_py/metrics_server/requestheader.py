"""Front-proxy authentication on an aggregated server (k8s.io/apiserver's requestheader).

The api-server proxies a request with the user in X-Remote-User / X-Remote-Group /
X-Remote-Extra-<key>; those headers are believed only on a connection whose client
certificate chains to the requestheader client CA and names one of the allowed proxies
(--requestheader-client-ca-file, --requestheader-allowed-names). The TLS context asks
for a client certificate and verifies any that is offered, so a connection without one
still serves (and is anonymous here), while a forged one never completes its handshake.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class User:
    """Who the api-server says asked."""

    name: str
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RequestHeaderConfig:
    """The --requestheader-* flags (or the extension-apiserver-authentication ConfigMap)."""

    client_ca: bytes
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)

    @classmethod
    def from_configmap(cls, data: Mapping[str, Any]) -> RequestHeaderConfig:
        """kube-system/extension-apiserver-authentication's data, as kube-apiserver writes
        it (lists as JSON arrays)."""
        def listed(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            raw = data.get(key)
            return tuple(json.loads(raw)) if isinstance(raw, str) and raw else default
        return cls(str(data.get("requestheader-client-ca-file") or "").encode(),
                   listed("requestheader-allowed-names", ()),
                   listed("requestheader-username-headers", ("X-Remote-User",)),
                   listed("requestheader-group-headers", ("X-Remote-Group",)),
                   listed("requestheader-extra-headers-prefix", ("X-Remote-Extra-",)))

    def serving_context(self, cert_file: str, key_file: str) -> ssl.SSLContext:
        """A server TLS context that verifies offered client certificates against the
        front-proxy CA (CERT_OPTIONAL: an unverifiable one fails the handshake)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        context.load_verify_locations(cadata=self.client_ca.decode())
        context.verify_mode = ssl.CERT_OPTIONAL
        context.set_alpn_protocols(["http/1.1"])
        return context


def _common_name(peercert: Mapping[str, Any]) -> str | None:
    for rdn in peercert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def authenticate(request: web.Request, config: RequestHeaderConfig) -> User | None:
    """The user the front proxy names, or None when the connection is not the proxy's
    (no verified client certificate, a name not allowed, or no username header)."""
    if request.transport is None:
        return None
    peercert = request.transport.get_extra_info("peercert")
    if not peercert:
        return None
    if config.allowed_names and _common_name(peercert) not in config.allowed_names:
        return None
    name = next((request.headers[h] for h in config.username_headers
                 if request.headers.get(h)), None)
    if not name:
        return None
    groups = tuple(g for h in config.group_headers for g in request.headers.getall(h, []))
    extra: dict[str, list[str]] = {}
    for key, value in request.headers.items():
        for prefix in config.extra_prefixes:
            if key.lower().startswith(prefix.lower()):
                extra.setdefault(urllib.parse.unquote(key[len(prefix):]).lower(), []).append(
                    value)
    return User(name, groups, extra)
