"""Admission of node-credentials Secrets: how a joining node gets its identity and its
kubelet serving certificate, and why a bootstrap token gets exactly one of each.

- A bootstrap token (system:bootstrap:<id>) may create one node-credentials Secret, for a
  node name no Node has yet (kubeadm refuses to join over an existing node too). The
  token's Secret is deleted in the same step, compare-and-swap on its resourceVersion, so
  two joins racing with one token cannot both win; a used token no longer authenticates.
- `data["kubelet-serving.csr"]`, a PEM certificate request as the kubelet-serving signer
  takes it (CN system:node:<node>, O system:nodes, SANs: the node's name and IP addresses
  only), is replaced by `data["kubelet-serving.crt"]`, signed by the cluster CA for a year:
  the creator reads it from the created object. The api-server accepts that certificate
  from the node's kubelet (proxy.dial), and no other.
- The api-server's clients trust the same CA, so a bootstrap token never gets a
  certificate they would take for the api-server or another node: not for a name of the
  api-server, the service address, a --tls-san (the VIP), loopback, or another Node's
  address. (The admin, making the credentials of the nodes `up` runs, is trusted.)
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube_py.api import errors
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import NODES, SECRETS
from minikube_py.api.secret import NODE_CREDENTIALS_TYPE, data_field
from minikube_py.api.types import Object
from minikube_py.apiserver import pki
from minikube_py.apiserver.authn import USER, User
from minikube_py.apiserver.objects import decode_item
from minikube_py.apiserver.state import OBJECTS, SETTINGS
from minikube_py.apiserver.target import Target

log = logging.getLogger(__name__)

CSR_KEY, CERT_KEY = "kubelet-serving.csr", "kubelet-serving.crt"
SERVING_VALIDITY = datetime.timedelta(days=365)
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"


def applies(target: Target, obj: Object) -> bool:
    return target.resource is SECRETS and obj.get("type") == NODE_CREDENTIALS_TYPE


async def admit(request: web.Request, obj: Object, *, dry_run: bool) -> None:
    """Refuse a bootstrap token's second use or an existing node's name; sign the CSR."""
    strategy_for(SECRETS).set_defaults(obj)  # stringData folded into data, as stored
    node = data_field(obj, "node-name")
    user: User = request[USER]
    if user.name.startswith(BOOTSTRAP_USER_PREFIX):
        await _claim_once(request, user, node, obj, dry_run=dry_run)
    data = obj.get("data")
    if isinstance(data, dict) and CSR_KEY in data:  # asked for, even empty: sign or refuse
        cert = await _sign(request, node, data_field(obj, CSR_KEY), obj)
        del data[CSR_KEY]
        data[CERT_KEY] = base64.b64encode(cert).decode()


async def _claim_once(request: web.Request, user: User, node: str, obj: Object, *,
                      dry_run: bool) -> None:
    store = request.app[OBJECTS]
    name = obj["metadata"].get("name", "")
    try:
        await store.get(NODES, None, node)
    except errors.StatusError as e:
        if e.code != 404:
            raise
    else:
        raise errors.forbidden(SECRETS, name, f'node "{node}" already exists: a bootstrap '
                               "token may not claim the name of an existing node")
    try:
        await store.get(SECRETS, "kube-system", name)
    except errors.StatusError as e:
        if e.code != 404:
            raise
    else:
        raise errors.already_exists(SECRETS, name)
    token_id = user.name.removeprefix(BOOTSTRAP_USER_PREFIX)
    secret_name = f"bootstrap-token-{token_id}"
    spent = errors.forbidden(SECRETS, name, f"bootstrap token {token_id} was already used "
                             "to join a node")
    try:
        token = await store.get(SECRETS, "kube-system", secret_name)
    except errors.StatusError as e:
        raise spent if e.code == 404 else e
    annotations = obj["metadata"].setdefault("annotations", {})
    annotations["minikube-py.io/bootstrap-token-id"] = token_id
    if dry_run:
        return
    try:
        await store.delete(SECRETS, token, int(token["metadata"]["resourceVersion"]))
    except errors.StatusError as e:
        raise spent if e.code in (404, 409) else e
    log.info("bootstrap token used token=%s node=%s", token_id, node)


def _invalid(name: str, why: str) -> errors.StatusError:
    return errors.invalid(SECRETS, name, [errors.Cause(f"data[{CSR_KEY}]",
                                                       f"Invalid value: {why}")])


async def _sign(request: web.Request, node: str, csr_pem: str, obj: Object) -> bytes:
    """The serving certificate for a request that asks for exactly what a node may have."""
    name = obj["metadata"].get("name", "")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as e:
        raise _invalid(name, f"not a PEM certificate request: {e}") from None
    if not csr.is_signature_valid:
        raise _invalid(name, "the request's signature does not verify")
    common = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if not node or common != [f"system:node:{node}"] or orgs != ["system:nodes"]:
        raise _invalid(name, f'subject must be CN=system:node:{node}, O=system:nodes')
    key = csr.public_key()
    if not (isinstance(key, ec.EllipticCurvePublicKey)
            or (isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048)):
        raise _invalid(name, "the key must be ECDSA or RSA of at least 2048 bits")
    dns_names, ips = _sans(csr, name)
    if any(n != node for n in dns_names):
        raise _invalid(name, f"DNS names other than the node's own ({node}) are not allowed")
    if request[USER].name.startswith(BOOTSTRAP_USER_PREFIX):
        await _not_anothers(request, node, ips, name)
    paths = request.app[SETTINGS].pki_dir
    loaded = pki.load_ca(paths / "ca.crt", paths / "ca.key")
    if loaded is None:
        raise errors.StatusError(500, "InternalError", "the cluster CA is not readable here")
    cert = pki.sign(*loaded, key, csr.subject, usages=[ExtendedKeyUsageOID.SERVER_AUTH],
                    ips=ips, dns_names=[node], validity=SERVING_VALIDITY)
    log.info("issued kubelet serving certificate node=%s ips=%s", node, ",".join(ips))
    return cert.public_bytes(serialization.Encoding.PEM)


async def _not_anothers(request: web.Request, node: str, ips: list[str], name: str) -> None:
    """Refuse what would make a joining node's certificate the api-server's or another
    node's (the first control plane's own agent joins before any Node has its address)."""
    settings = request.app[SETTINGS]
    san_ips, san_names = pki.split_sans(tuple(settings.tls_sans))
    if node in (*pki.SERVICE_DNS_NAMES, *san_names):
        raise _invalid(name, f"{node} is a name of the api-server, not a node's")
    items, _, _ = await request.app[OBJECTS].list(NODES, None)
    owners = {str(a.get("address")): str(n["metadata"]["name"]) for n in map(decode_item, items)
              for a in (n.get("status") or {}).get("addresses") or [] if isinstance(a, dict)}
    for ip in ips:
        address = ipaddress.ip_address(ip)
        if address.is_loopback or address.is_unspecified or \
                ip in (settings.kubernetes_service_ip, *san_ips):
            raise _invalid(name, f"IP address {ip} is the api-server's, not a node's")
        if owners.get(ip, node) != node:
            raise _invalid(name, f"IP address {ip} is node {owners[ip]}'s")


def _sans(csr: x509.CertificateSigningRequest, name: str) -> tuple[list[str], list[str]]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    known = san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)
    if len(known[0]) + len(known[1]) != len(list(san)):
        raise _invalid(name, "only DNS name and IP address SANs are allowed")
    return list(known[0]), [str(ip) for ip in known[1]]
