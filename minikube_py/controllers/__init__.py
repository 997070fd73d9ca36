"""The controller-manager's controllers, one module each (see manager.py)."""

from __future__ import annotations

from minikube_py.controllers.settings import ControllerManagerSettings

__all__ = ["ControllerManagerSettings", "run"]


async def run(settings: ControllerManagerSettings) -> None:
    from minikube_py.controllers.manager import run as run_manager

    await run_manager(settings)
