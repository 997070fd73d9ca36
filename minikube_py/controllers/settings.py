"""Controller-manager settings: one dataclass, every field defaulted; tests
pass a changed copy (short grace periods) instead of patching globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from minikube_py.client.leaderelection import LeaderElectionSettings
from minikube_py.controllers.nodedisruption import DisruptionSettings


@dataclass(frozen=True)
class ControllerManagerSettings:
    kubeconfig: str | None = None
    # Which controllers run: names from manager.CONTROLLERS, "*" for all,
    # "-name" to leave one out (as kube-controller-manager's --controllers).
    controllers: tuple[str, ...] = ("*",)
    # None: run the controllers without holding the Lease (--leader-elect=false).
    leader_election: LeaderElectionSettings | None = field(
        default_factory=lambda: LeaderElectionSettings("kube-controller-manager"))
    # Node lifecycle: silence longer than this makes a node Unknown.
    node_monitor_grace_period: float = 40.0
    node_monitor_period: float = 5.0
    # Default NoExecute toleration of not-ready/unreachable taints.
    pod_eviction_timeout: float = 300.0
    # Per-zone eviction rates and the disruption thresholds (nodedisruption.py).
    disruption: DisruptionSettings = field(default_factory=DisruptionSettings)
    # Node IPAM.
    cluster_cidr: str = "10.244.0.0/16"
    # Job pod backoff: the delay before replacing a failed pod, doubled per failure in a
    # row since the last success, capped (Kubernetes: 10 s and 6 min).
    job_backoff_base: float = 10.0
    job_backoff_max: float = 360.0
    # Token controller: off without a signing key (D/pki/sa.key).
    service_account_private_key_file: str | None = None
    # Each controller acts as kube-system/<its service account> (credentials.py), not as
    # the kubeconfig's user (kube-controller-manager's --use-service-account-credentials).
    use_service_account_credentials: bool = False
    root_ca_file: str | None = None
    # LoadBalancer address pool "default" (ranges or CIDRs, --lb-address-pool); more pools
    # come from the ConfigMap kube-system/lb-address-pools. None at all: node addresses.
    lb_address_pools: tuple[str, ...] = ()
    # HorizontalPodAutoscaler (kube-controller-manager's --horizontal-pod-autoscaler-*):
    # how often each HPA is looked at, the usage ratio within which nothing changes, and
    # the scale-down stabilization window of an HPA without `behavior`.
    hpa_sync_period: float = 15.0
    hpa_tolerance: float = 0.1
    hpa_downscale_stabilization: float = 300.0
