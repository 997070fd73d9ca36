"""The kubelet API's TLS: the node's serving certificate, and the CA client certificates
are verified against (kubelet's --tls-cert-file/--tls-private-key-file/--client-ca-file).

The serving certificate is issued by the cluster CA at join (minikube_py.cluster.join) with
the node's name and addresses as SANs; the api-server accepts no other. Without one (an
agent started by hand) a self-signed certificate is made so the API still serves direct
callers, but the api-server will refuse to proxy logs and exec to it: that is logged.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minikube_py.durable import write_file

log = logging.getLogger(__name__)


def server_context(cert_file: Path, key_file: Path, client_ca: bytes | None, *,
                   node: str, ips: list[str]) -> ssl.SSLContext:
    """Serve with the node's certificate; ask for (not require) a client certificate, which
    TLS verifies against `client_ca` (a token is the other way in)."""
    if not (cert_file.exists() and key_file.exists()):
        log.warning("no serving certificate at %s: serving a self-signed one; the api-server "
                    "will not proxy logs or exec to this node until it is joined", cert_file)
        cert_file, key_file = self_signed(cert_file.parent, node, ips)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca:
        ctx.load_verify_locations(cadata=client_ca.decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def self_signed(pki_dir: Path, node: str, ips: list[str]) -> tuple[Path, Path]:
    """kubelet.self.crt/.key in `pki_dir`, made once and reused across restarts."""
    crt, key = pki_dir / "kubelet-self.crt", pki_dir / "kubelet-self.key"
    if crt.exists() and key.exists():
        return crt, key
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node}@kubelet")])
    sans: list[x509.GeneralName] = [x509.DNSName(node)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips if ip]
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(k, hashes.SHA256()))
    write_file(key, k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    write_file(crt, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return crt, key
