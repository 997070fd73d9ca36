"""The api-server's PKI: a CA, a serving certificate, an admin token and kubeconfig, and
the client certificate it presents to kubelets (kubeadm's apiserver-kubelet-client).

Made once on first start in D/pki and reused afterwards, so clients that trust
the CA keep working across restarts. Every file goes through durable.write_file:
keys and tokens 0600 before any byte of them is, all fsync'd before the rename.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube_py.durable import write_file

log = logging.getLogger(__name__)

SERVICE_DNS_NAMES = (
    "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
_VALIDITY = datetime.timedelta(days=3650)


# The control-plane components that run with their own identity, not the admin's:
# kubeconfig name -> user (kubeadm's scheduler.conf and controller-manager.conf; vip.conf
# for the HA floating address, agent/vip.py).
# Who the api-server is to kubelets (pods/log, exec, port-forward, nodes/proxy): bound to
# system:kubelet-api-admin by the bootstrap policy, as kubeadm binds its client certificate.
KUBELET_CLIENT_USER = "system:kube-apiserver-kubelet-client"
COMPONENT_USERS = {"scheduler": "system:kube-scheduler",
                   "controller-manager": "system:kube-controller-manager",
                   "vip": "system:kube-vip"}


@dataclass(frozen=True)
class Pki:
    """Paths of everything pki.ensure() made."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_token_file: Path
    sa_key: Path
    sa_pub: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path

    def component_token_file(self, component: str) -> Path:
        return self.admin_token_file.with_name(f"{component}.token")

    def component_token(self, component: str) -> str:
        return self.component_token_file(component).read_text().strip()

    @property
    def admin_token(self) -> str:
        return self.admin_token_file.read_text().strip()



def host_addresses() -> list[str]:
    """Every IPv4/IPv6 address of this host's interfaces (for the serving cert SANs)."""
    found: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            ip = a.address.split("%")[0]
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                continue
            if ip not in found:
                found.append(ip)
    return found


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def new_ca(common_name: str = "minikube-py-ca"
           ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def issue(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, *, common_name: str,
          ips: Sequence[str] = (), dns_names: Sequence[str] = (),
          server: bool = True, client: bool = False
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new key and its leaf certificate signed by `ca` for a server (SANs), a client or
    both."""
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    return sign(ca, ca_key, key.public_key(), subject_name(common_name), usages=usages,
                ips=ips, dns_names=dns_names), key


def sign(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
         public_key: CertificateIssuerPublicKeyTypes, subject: x509.Name, *,
         usages: Sequence[x509.ObjectIdentifier], ips: Sequence[str] = (),
         dns_names: Sequence[str] = (),
         validity: datetime.timedelta = _VALIDITY) -> x509.Certificate:
    """A leaf certificate for someone else's key (a node's serving key, from its request)."""
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + validity)
               .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def subject_name(common_name: str, *organizations: str) -> x509.Name:
    """CN=user, O=group...: how Kubernetes reads a client certificate's identity."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)
                        for o in organizations)])


def write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate,
               key: ec.EllipticCurvePrivateKey) -> None:
    """The key (0600) first, then its certificate."""
    write_file(key_path, _key_pem(key))
    write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def load_ca(cert_path: Path, key_path: Path
            ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The CA in these files, or None when either is missing."""
    if not (cert_path.exists() and key_path.exists()):
        return None
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate(cert_path.read_bytes()), loaded


def split_sans(sans: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(IP addresses, DNS names) of `--tls-san` values."""
    ips, names = [], []
    for san in sans:
        try:
            ips.append(str(ipaddress.ip_address(san)))
        except ValueError:
            names.append(san)
    return ips, names


def ensure(pki_dir: Path, *, service_ip: str, extra_sans: tuple[str, ...] = ()) -> Pki:
    """Create whatever of the PKI is missing; a serving cert lacking one of today's
    addresses or names is re-issued from the same CA."""
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = Pki(pki_dir / "ca.crt", pki_dir / "ca.key", pki_dir / "apiserver.crt",
                pki_dir / "apiserver.key", pki_dir / "admin.token", pki_dir / "sa.key",
                pki_dir / "sa.pub", pki_dir / "apiserver-kubelet-client.crt",
                pki_dir / "apiserver-kubelet-client.key")
    existing = load_ca(paths.ca_cert, paths.ca_key)
    if existing is not None:
        ca, ca_key = existing
    else:
        ca, ca_key = new_ca()
        write_pair(paths.ca_cert, paths.ca_key, ca, ca_key)
        paths.serving_cert.unlink(missing_ok=True)
        paths.kubelet_client_cert.unlink(missing_ok=True)
        log.info("created CA path=%s", paths.ca_cert)
    extra_ips, extra_names = split_sans(extra_sans)
    ips = list(dict.fromkeys(["127.0.0.1", service_ip, *host_addresses(), *extra_ips]))
    names = list(dict.fromkeys([*SERVICE_DNS_NAMES, *extra_names]))
    if not covers(paths.serving_cert, ips, names) or not paths.serving_key.exists():
        cert, key = issue(ca, ca_key, common_name="kube-apiserver", ips=ips, dns_names=names)
        write_pair(paths.serving_cert, paths.serving_key, cert, key)
        log.info("issued serving certificate ips=%s names=%s", ",".join(ips), ",".join(names))
    if not (paths.kubelet_client_cert.exists() and paths.kubelet_client_key.exists()):
        cert, key = issue(ca, ca_key, common_name=KUBELET_CLIENT_USER, server=False,
                          client=True)
        write_pair(paths.kubelet_client_cert, paths.kubelet_client_key, cert, key)
        log.info("issued kubelet-client certificate user=%s", KUBELET_CLIENT_USER)
    for token_file in (paths.admin_token_file,
                       *map(paths.component_token_file, COMPONENT_USERS)):
        if not token_file.exists():
            write_file(token_file, secrets.token_urlsafe(32))
    if not (paths.sa_key.exists() and paths.sa_pub.exists()):
        _new_service_account_keys(paths)
    return paths


def _new_service_account_keys(paths: Pki) -> None:
    """RSA-2048 pair the token controller signs service-account JWTs with (we verify)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_file(paths.sa_key, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    write_file(paths.sa_pub, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), mode=0o644)
    log.info("created service-account key pair path=%s", paths.sa_key)


def covers(cert_path: Path, ips: list[str], names: list[str]) -> bool:
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    have_names = set(san.get_values_for_type(x509.DNSName))
    return set(ips) <= have_ips and set(names) <= have_names


def write_kubeconfig(path: Path, *, server: str, ca_cert: Path, token: str,
                     user: str = "admin") -> None:
    """A kubeconfig with the CA embedded, so it works from any directory (0600: a token)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "minikube-py", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_cert.read_bytes()).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "minikube-py", "context": {"cluster": "minikube-py",
                                                         "user": user}}],
        "current-context": "minikube-py",
    }
    write_file(path, yaml.safe_dump(config, sort_keys=False))
