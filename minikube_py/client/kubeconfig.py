"""Where to connect and how to prove who we are: a kubeconfig file (as kubectl
reads it) or the in-cluster service-account mount. The result is one frozen
`ClientConfig`; building the TLS context from it is kept here too so the REST
client never touches files."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minikube_py.client.errors import ConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = Path("~/.kube/config")


@dataclass(frozen=True)
class ClientConfig:
    """Everything needed to talk to one api-server as one user.

    PEM material is held as bytes so a config loaded from a kubeconfig with
    embedded data and one pointing at files behave the same afterwards.
    """

    server: str
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    token: str | None = None
    token_file: Path | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    namespace: str = "default"

    def read_token(self) -> str | None:
        """The bearer token; a token file is re-read because kubelet rotates it."""
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip() or self.token
            except OSError as e:
                raise ConfigError(f"cannot read token file {self.token_file}: {e}") from e
        return self.token

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for https servers (None for plain http)."""
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context()
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data is not None:
            try:
                ctx.load_verify_locations(cadata=self.ca_data.decode())
            except (ssl.SSLError, ValueError, UnicodeDecodeError) as e:
                raise ConfigError(f"certificate-authority data is not valid PEM: {e}") from e
        if self.client_cert_data is not None:
            _load_client_cert(ctx, self.client_cert_data, self.client_key_data)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes | None) -> None:
    """ssl only loads a key pair from files: write them to a private temp dir briefly."""
    if key is None:
        raise ConfigError("client-certificate given without client-key")
    with tempfile.TemporaryDirectory(prefix="mkp-client-") as tmp:
        cert_path, key_path = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as e:
            raise ConfigError(f"client certificate/key cannot be loaded: {e}") from e


def _pem(entry: Mapping[str, Any], field: str, base: Path) -> bytes | None:
    """`<field>-data` (base64) or `<field>` (a path relative to the kubeconfig)."""
    data = entry.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(data, validate=True)
        except ValueError as e:
            raise ConfigError(f"{field}-data is not valid base64") from e
    path = entry.get(field)
    if path:
        full = (base / Path(path).expanduser()) if not Path(path).is_absolute() else Path(path)
        try:
            return full.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read {field} {full}: {e}") from e
    return None


def _named(doc: Mapping[str, Any], section: str, name: str) -> Mapping[str, Any]:
    for item in doc.get(section) or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return item.get(section[:-1]) or {}
    raise ConfigError(f"kubeconfig has no {section[:-1]} named {name!r}")


def default_kubeconfig_path() -> Path:
    """$KUBECONFIG (first entry) or ~/.kube/config, as kubectl resolves it."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first or DEFAULT_KUBECONFIG).expanduser()


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line (PyYAML's own message spans several, with a caret drawing)."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        return f"line {e.problem_mark.line + 1}: {e.problem}"
    return " ".join(str(e).split())


def load_kubeconfig(path: str | os.PathLike[str] | None = None,
                    context: str | None = None) -> ClientConfig:
    """Read a kubeconfig and resolve its current (or the named) context."""
    kpath = Path(path).expanduser() if path is not None else default_kubeconfig_path()
    try:
        doc = yaml.safe_load(kpath.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {kpath}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"kubeconfig {kpath} is not valid YAML: {_yaml_problem(e)}") from e
    if not isinstance(doc, Mapping):
        raise ConfigError(f"kubeconfig {kpath} is not a mapping")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"kubeconfig {kpath} has no current-context")
    ctx = _named(doc, "contexts", ctx_name)
    cluster = _named(doc, "clusters", ctx.get("cluster", ""))
    user = _named(doc, "users", ctx["user"]) if ctx.get("user") else {}
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f"cluster {ctx.get('cluster')!r} has no http(s) server: {server!r}")
    base = kpath.parent
    token_file = user.get("tokenFile")
    return ClientConfig(
        server=server,
        ca_data=_pem(cluster, "certificate-authority", base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        token=user.get("token"),
        token_file=(base / Path(token_file).expanduser()) if token_file else None,
        client_cert_data=_pem(user, "client-certificate", base),
        client_key_data=_pem(user, "client-key", base),
        namespace=ctx.get("namespace") or "default",
    )


def in_cluster_config(env: Mapping[str, str] | None = None,
                      root: Path = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    """The config a pod gets: KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    token_file = root / "token"
    if not token_file.exists():
        raise ConfigError(f"not in a cluster: {token_file} does not exist")
    try:
        ca = (root / "ca.crt").read_bytes()
        namespace = (root / "namespace").read_text().strip() if (root / "namespace").exists() \
            else "default"
    except OSError as e:
        raise ConfigError(f"cannot read service-account files in {root}: {e}") from e
    return ClientConfig(server=f"https://{host}:{port}", ca_data=ca, token_file=token_file,
                        namespace=namespace or "default")
