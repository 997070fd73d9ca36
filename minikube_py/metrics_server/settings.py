"""Settings of `minikube-py metrics-server`: every field defaulted, tests pass a copy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MetricsServerSettings:
    """What the CLI parses its flags into (flag names are metrics-server's own)."""

    kubeconfig: str
    # Serving TLS (the APIService's caBundle must have signed it).
    tls_cert_file: str
    tls_private_key_file: str
    bind_address: str = "0.0.0.0"
    secure_port: int = 4443
    # How often every node's /metrics/resource is scraped (--metric-resolution).
    metric_resolution: float = 15.0
    # Skip verifying kubelets' serving certificates (--kubelet-insecure-tls); by default
    # they are checked against the cluster CA of the kubeconfig.
    kubelet_insecure_tls: bool = False
    # The front-proxy trust: read from kube-system/extension-apiserver-authentication
    # unless given (--requestheader-client-ca-file, --requestheader-allowed-names).
    requestheader_client_ca_file: str = ""
    requestheader_allowed_names: tuple[str, ...] = ()
