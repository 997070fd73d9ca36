"""Leader-election settings: one dataclass shared by scheduler and controller-manager,
read from the same flags by both CLIs; inconsistent timing is refused up front."""

from __future__ import annotations

import argparse

import pytest

from minikube_py.cli.flags import add_leader_flags, leader_settings
from minikube_py.cli.main import CLIError
from minikube_py.client.leaderelection import LeaderElectionSettings, run_elected
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.scheduler.settings import SchedulerSettings


def parse(*argv: str, lease: str = "kube-scheduler") -> LeaderElectionSettings | None:
    parser = argparse.ArgumentParser()
    add_leader_flags(parser, lease)
    return leader_settings(parser.parse_args(argv), lease)


def test_each_component_campaigns_for_its_own_lease() -> None:
    assert SchedulerSettings().leader_election == LeaderElectionSettings("kube-scheduler")
    assert (ControllerManagerSettings().leader_election
            == LeaderElectionSettings("kube-controller-manager"))


@pytest.mark.parametrize(("timing", "ok"), [
    pytest.param((15, 10, 2), True, id="defaults"),
    pytest.param((10, 10, 2), False, id="renew deadline not below lease duration"),
    pytest.param((15, 10, 9), False, id="retry period leaves no jittered retry"),
])
def test_settings_refuse_inconsistent_timing(timing: tuple[float, float, float],
                                             ok: bool) -> None:
    lease, renew, retry = timing
    if ok:
        LeaderElectionSettings("x", lease_duration=lease, renew_deadline=renew,
                               retry_period=retry)
        return
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        LeaderElectionSettings("x", lease_duration=lease, renew_deadline=renew,
                               retry_period=retry)


def test_flags_become_settings() -> None:
    assert parse() == LeaderElectionSettings("kube-scheduler")
    assert parse("--leader-elect-lease-duration", "1m", "--leader-elect-renew-deadline", "30s",
                 "--leader-elect-retry-period", "500ms", "--identity", "me",
                 lease="kube-controller-manager") == LeaderElectionSettings(
        "kube-controller-manager", identity="me", lease_duration=60.0, renew_deadline=30.0,
        retry_period=0.5)
    assert parse("--leader-elect", "false") is None


def test_inconsistent_flags_are_a_cli_error() -> None:
    with pytest.raises(CLIError, match="--leader-elect-lease-duration > "):
        parse("--leader-elect-lease-duration", "5s")


async def test_without_election_the_work_runs_at_once() -> None:
    ran: list[str] = []

    async def work() -> None:
        ran.append("work")

    await run_elected(None, None, work)  # type: ignore[arg-type]  # no client needed
    assert ran == ["work"]
