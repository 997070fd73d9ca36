"""etcd's own PKI, laid out as kubeadm lays it out in D/pki.

    etcd/ca.crt, etcd/ca.key            the etcd CA (etcd trusts nothing else)
    etcd/server.crt, etcd/server.key    a member's client-facing serving certificate
    etcd/peer.crt, etcd/peer.key        a member's certificate towards the other members
    apiserver-etcd-client.crt/.key      the api-server's client certificate

The CA is made once and shared by every member (the lab copies it, a joining host
receives it with the shared PKI); each member issues its own server and peer
certificates for its own addresses. Server and peer certificates name `localhost`
(etcdtls.SERVER_NAME) so one gRPC channel can verify every member.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from minikube_py.apiserver import pki
from minikube_py.store.etcdtls import SERVER_NAME, EtcdTLS, MemberTLS

log = logging.getLogger(__name__)

CLIENT_NAME = "kube-apiserver-etcd-client"


@dataclass(frozen=True)
class EtcdPki:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    peer_cert: Path
    peer_key: Path
    client_cert: Path
    client_key: Path

    @property
    def client(self) -> EtcdTLS:
        """What the api-server (and etcdctl) present to etcd."""
        return EtcdTLS(self.ca_cert, self.client_cert, self.client_key)

    @property
    def member(self) -> MemberTLS:
        """What an etcd member serves and presents to its peers."""
        return MemberTLS(self.ca_cert, self.server_cert, self.server_key, self.peer_cert,
                         self.peer_key)


def paths(pki_dir: Path) -> EtcdPki:
    etcd = pki_dir / "etcd"
    return EtcdPki(etcd / "ca.crt", etcd / "ca.key", etcd / "server.crt", etcd / "server.key",
                   etcd / "peer.crt", etcd / "peer.key", pki_dir / "apiserver-etcd-client.crt",
                   pki_dir / "apiserver-etcd-client.key")


def ensure(pki_dir: Path, *, ips: Sequence[str] = (), names: Sequence[str] = ()) -> EtcdPki:
    """Create whatever of etcd's PKI is missing; a member certificate lacking one of
    today's addresses is re-issued from the same CA."""
    p = paths(pki_dir)
    p.ca_cert.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = pki.load_ca(p.ca_cert, p.ca_key)
    if existing is None:
        ca, ca_key = pki.new_ca("etcd-ca")
        pki.write_pair(p.ca_cert, p.ca_key, ca, ca_key)
        for stale in (p.server_cert, p.peer_cert, p.client_cert):
            stale.unlink(missing_ok=True)
        log.info("created etcd CA path=%s", p.ca_cert)
    else:
        ca, ca_key = existing
    all_ips = list(dict.fromkeys(["127.0.0.1", "::1", *pki.host_addresses(), *ips]))
    all_names = list(dict.fromkeys([SERVER_NAME, *names]))
    for cert_path, key_path in ((p.server_cert, p.server_key), (p.peer_cert, p.peer_key)):
        if not pki.covers(cert_path, all_ips, all_names) or not key_path.exists():
            cert, key = pki.issue(ca, ca_key, common_name=all_names[-1], ips=all_ips,
                                  dns_names=all_names, server=True, client=True)
            pki.write_pair(cert_path, key_path, cert, key)
            log.info("issued etcd certificate path=%s ips=%s", cert_path, ",".join(all_ips))
    if not (p.client_cert.exists() and p.client_key.exists()):
        cert, key = pki.issue(ca, ca_key, common_name=CLIENT_NAME, server=False, client=True)
        pki.write_pair(p.client_cert, p.client_key, cert, key)
    return p
