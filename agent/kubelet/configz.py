"""The kubelet's /configz body: the node's effective settings as a KubeletConfiguration,
so `kubectl get --raw /api/v1/nodes/<n>/proxy/configz` shows what this agent runs with
(clusterDNS, clusterDomain, ...) under the field names tools expect from real kubelets."""

from __future__ import annotations

from typing import Any

from agent.kubelet.webhook_auth import ALLOWED_TTL, DENIED_TTL, TOKEN_TTL
from agent.settings import AgentSettings


def go_duration(seconds: float) -> str:
    """metav1.Duration's text, as Go prints it: 10s, 1m0s, 1h0m0s, 1.5s."""
    whole, frac = divmod(seconds, 1)
    h, rest = divmod(int(whole), 3600)
    m, s = divmod(rest, 60)
    sec = f"{s + frac:g}s"
    if h:
        return f"{h}h{m}m{sec}"
    return f"{m}m{sec}" if m else sec


def kubelet_configuration(settings: AgentSettings, port: int) -> dict[str, Any]:
    """KubeletConfiguration (kubelet.config.k8s.io/v1beta1) fields that we have."""
    return {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "address": settings.bind_address,
        "port": port,
        "clusterDNS": settings.dns_servers(),
        "clusterDomain": settings.cluster_domain,
        "resolvConf": settings.resolv_conf,
        "maxPods": settings.max_pods,
        "syncFrequency": go_duration(settings.resync_period),
        "nodeStatusReportFrequency": go_duration(settings.status_report_interval),
        "nodeLeaseDurationSeconds": settings.lease_duration,
        "registerWithTaints": list(settings.register_with_taints),
        "tlsCertFile": settings.serving_cert_file,
        "tlsPrivateKeyFile": settings.serving_key_file,
        "authentication": {"x509": {"clientCAFile": settings.client_ca_file},
                           "webhook": {"enabled": True, "cacheTTL": go_duration(TOKEN_TTL)},
                           "anonymous": {"enabled": False}},
        "authorization": {"mode": "Webhook", "webhook": {
            "cacheAuthorizedTTL": go_duration(ALLOWED_TTL),
            "cacheUnauthorizedTTL": go_duration(DENIED_TTL)}},
    }


def configz(settings: AgentSettings, port: int) -> dict[str, Any]:
    """The whole /configz answer: Kubernetes wraps the configuration in `kubeletconfig`."""
    return {"kubeletconfig": kubelet_configuration(settings, port)}

