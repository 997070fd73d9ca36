"""Which Strategy the api-server applies to a resource.

The per-kind strategies live in minikube_py.api.registry (the api package); a
kind it does not know yet gets the generic `Strategy` (metadata rules only).
"""

from __future__ import annotations

import functools

from minikube_py.api.resources import Resource
from minikube_py.api.strategy import Strategy


@functools.cache
def strategy_for(resource: Resource) -> Strategy:
    try:
        from minikube_py.api.registry import strategy_for as registered
    except ImportError:
        return Strategy(resource)
    return registered(resource)
