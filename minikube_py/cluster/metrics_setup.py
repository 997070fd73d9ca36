"""What `up` installs for the metrics server, as metrics-server's manifests would.

The server runs on the control-plane host (supervised like the DNS server), so `up`
gives it: its identity (ServiceAccount kube-system/metrics-server, RBAC from the
bootstrap policy), a serving certificate from the cluster CA for
metrics-server.kube-system.svc, a selectorless Service whose Endpoints are the host's
address, and the APIService v1beta1.metrics.k8s.io pointing there with the cluster CA as
its caBundle. Idempotent: every `up` re-asserts all of it (the address may have moved).
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from minikube_py.api.resources import APISERVICES, ENDPOINTS, SERVICES, Resource
from minikube_py.api.types import Object
from minikube_py.apiserver import certs
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.cluster import identities
from minikube_py.durable import write_file

NAMESPACE, NAME = "kube-system", "metrics-server"
PORT = 4443
APISERVICE = "v1beta1.metrics.k8s.io"
LABELS = {"k8s-app": "metrics-server"}


def serving_certificate(pki_dir: Path, cert: Path, key: Path, address: str) -> None:
    """A certificate for the Service name and `address`, from the cluster CA (kept while
    it still names that address)."""
    if cert.exists() and key.exists():
        san = x509.load_pem_x509_certificate(cert.read_bytes()).extensions \
            .get_extension_for_class(x509.SubjectAlternativeName).value
        if address in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}:
            return
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    new_key = certs.new_key()
    issued = certs.issue(NAME, ca.subject, ca_key, new_key, server=True, dns_names=[
        f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.cluster.local"], ips=[address])
    write_file(key, certs.key_pem(new_key))
    write_file(cert, certs.cert_pem(issued), mode=0o644)


def objects(address: str, ca_pem: bytes, port: int = PORT) -> list[tuple[Resource, Object]]:
    """The Service, its Endpoints and the APIService."""
    meta = {"name": NAME, "namespace": NAMESPACE, "labels": LABELS}
    return [
        (SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                       "targetPort": port}]}}),
        (ENDPOINTS, {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": [
            {"addresses": [{"ip": address}],
             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}),
        (APISERVICES, {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                       "metadata": {"name": APISERVICE, "labels": LABELS}, "spec": {
                           "group": "metrics.k8s.io", "version": "v1beta1",
                           "groupPriorityMinimum": 100, "versionPriority": 100,
                           "caBundle": base64.b64encode(ca_pem).decode(),
                           "service": {"namespace": NAMESPACE, "name": NAME,
                                       "port": 443}}}),
    ]


async def _apply(client: ApiClient, resource: Resource, obj: Object) -> None:
    namespace = obj["metadata"].get("namespace")
    try:
        current = await client.get(resource, obj["metadata"]["name"], namespace=namespace)
    except NotFound:
        await client.create(resource, obj, namespace)
        return
    wanted = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
    if resource is SERVICES:  # keep what the api-server allocated
        wanted["spec"] = {**current["spec"], "ports": obj["spec"]["ports"]}
    if wanted != current:
        await client.update(resource, wanted)


async def install(client: ApiClient, *, server: str, ca_pem: bytes, pki_dir: Path,
                  kubeconfig: Path, cert: Path, key: Path, address: str,
                  port: int = PORT) -> None:
    await identities.write_kubeconfig(client, server, ca_pem, kubeconfig,
                                      namespace=NAMESPACE, name=NAME, labels=LABELS)
    serving_certificate(pki_dir, cert, key, address)
    for resource, obj in objects(address, ca_pem, port):
        await _apply(client, resource, obj)
