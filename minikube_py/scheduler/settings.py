"""Scheduler settings: one dataclass, every field defaulted; tests pass a changed copy."""

from __future__ import annotations

from dataclasses import dataclass, field

from minikube_py.client.leaderelection import LeaderElectionSettings


@dataclass(frozen=True)
class SchedulerSettings:
    kubeconfig: str | None = None
    # Pods whose spec.schedulerName is this (or unset) are ours.
    scheduler_name: str = "default-scheduler"
    # None: schedule without holding the Lease (--leader-elect=false).
    leader_election: LeaderElectionSettings | None = field(
        default_factory=lambda: LeaderElectionSettings("kube-scheduler"))
    # Bindings in flight at once: the api-server round trip, not our CPU, is
    # what limits a serial binder.
    bind_concurrency: int = 64
    # 0 = Kubernetes' adaptive percentageOfNodesToScore.
    percentage_of_nodes_to_score: int = 0
    unschedulable_timeout: float = 60.0
    # PreBind waits this long for the PV binder to bind a pod's claims (bindTimeoutSeconds).
    volume_bind_timeout: float = 600.0
    # Scheduled/FailedScheduling Events waiting to be written (they wait while
    # bindings queue up); beyond this they are dropped, as Kubernetes'
    # broadcaster does, rather than slow binding down.
    event_backlog: int = 10000
    event_workers: int = 1
