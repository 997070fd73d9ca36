"""The scheduler: places pending pods on nodes (see scheduler.py for the loop)."""

from __future__ import annotations

from minikube_py.scheduler.settings import SchedulerSettings

__all__ = ["SchedulerSettings", "run"]


async def run(settings: SchedulerSettings) -> None:
    """Schedule while holding the leader Lease (or always, without election)."""
    from minikube_py.client import ApiClient, LeaderElector
    from minikube_py.scheduler.scheduler import Scheduler

    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client:
        if not settings.leader_elect:
            await Scheduler(client, settings).run()
            return
        elector = LeaderElector(
            client, name=settings.lease_name, namespace=settings.lease_namespace,
            identity=settings.identity, lease_duration=settings.lease_duration,
            renew_deadline=settings.renew_deadline, retry_period=settings.retry_period,
        )
        await elector.run(lambda: Scheduler(client, settings).run())
