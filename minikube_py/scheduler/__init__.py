"""The scheduler: places pending pods on nodes (see scheduler.py for the loop)."""

from __future__ import annotations

from minikube_py.scheduler.settings import SchedulerSettings

__all__ = ["SchedulerSettings", "run"]


async def run(settings: SchedulerSettings) -> None:
    """Schedule while holding the leader Lease (or always, without election)."""
    from minikube_py.client import ApiClient, run_elected
    from minikube_py.scheduler.scheduler import Scheduler

    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client:
        await run_elected(client, settings.leader_election,
                          lambda: Scheduler(client, settings).run())
