"""Ingress controller settings: one dataclass, every field defaulted; tests pass a copy."""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.api.ingressclass import CONTROLLER


@dataclass(frozen=True)
class IngressSettings:
    kubeconfig: str | None = None
    # The IngressClass controller name whose classes we serve.
    controller: str = CONTROLLER
    # Where HAProxy listens for plain HTTP and for TLS (tests use free loopback ports).
    bind_address: str = "0.0.0.0"
    http_port: int = 80
    https_port: int = 443
    # Written to the served Ingresses' status.loadBalancer.ingress (every node serving them,
    # as ingress-nginx's --publish-status-address); empty: not written.
    publish_addresses: tuple[str, ...] = ()
    # Config, certificates (0700 dir, 0600 files), the master's socket and pid file.
    state_dir: str = "/var/lib/minikube-py/ingress"
    haproxy: str = "haproxy"
    # HAProxy worker threads (its default is one per CPU).
    threads: int = 0
    # Old workers finish their requests within this, then are stopped (hard-stop-after).
    drain_seconds: int = 30
