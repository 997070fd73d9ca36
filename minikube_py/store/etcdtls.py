"""How the api-server authenticates to etcd and etcd to it: client TLS from an etcd CA.

One `EtcdTLS` (kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile) opens every
channel to etcd: the shared gRPC channel, the per-member maintenance channels, the
/health poll and etcdctl. A gRPC channel to several members has one authority, so TLS
checks each member's certificate against the etcd CA and the name `localhost`, which
every member's serving certificate carries (the CA is etcd's alone: a certificate it
signed is an etcd member's, as kubeadm's etcd trusts it).
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc

SERVER_NAME = "localhost"  # a SAN of every member's serving certificate (etcd_pki.py)


class InsecureEtcd(ValueError):
    """Plain-HTTP etcd off loopback: anyone on the network reads every Secret."""


@dataclass(frozen=True)
class EtcdTLS:
    """The CA that signs etcd's certificates and our client certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file.read_bytes(),
            certificate_chain=self.cert_file.read_bytes())

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = False  # members are checked by CA (see the module docstring)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def etcdctl_args(self) -> list[str]:
        return ["--cacert", str(self.ca_file), "--cert", str(self.cert_file),
                "--key", str(self.key_file)]


@dataclass(frozen=True)
class MemberTLS:
    """What one etcd member serves to clients and presents to its peers (both verified
    against the etcd CA: client-cert-auth and peer-client-cert-auth)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    peer_cert_file: Path
    peer_key_file: Path

    def config(self) -> dict[str, object]:
        """etcd config-file keys."""
        return {
            "client-transport-security": {
                "cert-file": str(self.cert_file), "key-file": str(self.key_file),
                "trusted-ca-file": str(self.ca_file), "client-cert-auth": True},
            "peer-transport-security": {
                "cert-file": str(self.peer_cert_file), "key-file": str(self.peer_key_file),
                "trusted-ca-file": str(self.ca_file), "client-cert-auth": True},
        }

    def flags(self) -> list[str]:
        """The same as etcd command-line flags (systemd units, test fixtures)."""
        return ["--cert-file", str(self.cert_file), "--key-file", str(self.key_file),
                "--trusted-ca-file", str(self.ca_file), "--client-cert-auth",
                "--peer-cert-file", str(self.peer_cert_file),
                "--peer-key-file", str(self.peer_key_file),
                "--peer-trusted-ca-file", str(self.ca_file), "--peer-client-cert-auth"]


def channel(target: str, tls: EtcdTLS | None,
            options: tuple[tuple[str, str | int], ...] = ()) -> grpc.aio.Channel:
    """A gRPC channel to `target`: TLS when `tls` is given, else plain."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options)
    return grpc.aio.secure_channel(
        target, tls.credentials(),
        (*options, ("grpc.ssl_target_name_override", SERVER_NAME)))


def check_endpoints(endpoints: list[str], tls: EtcdTLS | None, *, allow_insecure: bool
                    ) -> None:
    """Refuse an https endpoint without certificates, and a non-loopback http one unless
    `allow_insecure` (kube-apiserver has no such guard; an etcd on the network without TLS
    is every Secret readable by anyone there)."""
    for url in endpoints:
        parts = urlsplit(url if "//" in url else f"http://{url}")
        if parts.scheme not in ("http", "https"):
            raise InsecureEtcd(f"{url}: an etcd URL is http:// or https://")
        if (parts.scheme == "https") != (tls is not None):
            if tls is not None:
                raise InsecureEtcd(f"{url}: etcd certificates are given but the URL is "
                                   "http://; use https://")
            raise InsecureEtcd(f"{url}: https etcd needs --etcd-cafile, --etcd-certfile and "
                               "--etcd-keyfile")
        if parts.scheme == "http" and not allow_insecure and not _loopback(parts.hostname):
            raise InsecureEtcd(
                f"{url}: plain-HTTP etcd off loopback sends every object, Secrets included, "
                "unencrypted; use https:// with --etcd-cafile/--etcd-certfile/--etcd-keyfile "
                "(or --etcd-insecure to accept it)")


def _loopback(host: str | None) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False
