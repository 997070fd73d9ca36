"""The front-proxy identity: how the api-server tells aggregated servers who asked.

As kubeadm sets kube-apiserver up: a CA of its own (front-proxy-ca, not the cluster CA,
so no ordinary client certificate can pose as the proxy) signs one client certificate
(CN front-proxy-client) that the api-server presents when it proxies a request to an
aggregated server, with the user in X-Remote-User / X-Remote-Group /
X-Remote-Extra-<key>. The aggregated server trusts those headers only over a connection
that presented a certificate from that CA with an allowed name (its --requestheader-*
flags); it learns both from the kube-system/extension-apiserver-authentication ConfigMap
the api-server publishes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from minikube_py.api.types import Object
from minikube_py.apiserver import certs
from minikube_py.durable import write_file

log = logging.getLogger(__name__)

CLIENT_NAME = "front-proxy-client"
USERNAME_HEADERS = ("X-Remote-User",)
GROUP_HEADERS = ("X-Remote-Group",)
EXTRA_PREFIXES = ("X-Remote-Extra-",)
CONFIGMAP_NAMESPACE, CONFIGMAP_NAME = "kube-system", "extension-apiserver-authentication"


@dataclass(frozen=True)
class FrontProxyPki:
    ca_cert: Path
    ca_key: Path
    client_cert: Path
    client_key: Path


def ensure(pki_dir: Path) -> FrontProxyPki:
    """Create the front-proxy CA and client certificate in D/pki unless both exist."""
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = FrontProxyPki(pki_dir / "front-proxy-ca.crt", pki_dir / "front-proxy-ca.key",
                          pki_dir / "front-proxy-client.crt", pki_dir / "front-proxy-client.key")
    if all(p.exists() for p in (paths.ca_cert, paths.ca_key, paths.client_cert,
                                paths.client_key)):
        return paths
    ca_key, client_key = certs.new_key(), certs.new_key()
    ca = certs.issue("front-proxy-ca", certs.name("front-proxy-ca"), ca_key, ca_key, ca=True)
    client = certs.issue(CLIENT_NAME, ca.subject, ca_key, client_key)
    write_file(paths.ca_key, certs.key_pem(ca_key))
    write_file(paths.client_key, certs.key_pem(client_key))
    write_file(paths.client_cert, certs.cert_pem(client), mode=0o644)
    write_file(paths.ca_cert, certs.cert_pem(ca), mode=0o644)  # last: its presence means the set is complete
    log.info("created front-proxy CA and client certificate path=%s", paths.ca_cert)
    return paths


def authentication_configmap(client_ca: bytes, front_proxy_ca: bytes) -> Object:
    """kube-system/extension-apiserver-authentication, keys as kube-apiserver writes them."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE}, "data": {
        "client-ca-file": client_ca.decode(),
        "requestheader-client-ca-file": front_proxy_ca.decode(),
        "requestheader-allowed-names": json.dumps([CLIENT_NAME]),
        "requestheader-username-headers": json.dumps(list(USERNAME_HEADERS)),
        "requestheader-group-headers": json.dumps(list(GROUP_HEADERS)),
        "requestheader-extra-headers-prefix": json.dumps(list(EXTRA_PREFIXES))}}
