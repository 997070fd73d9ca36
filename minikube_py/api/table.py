"""Server-side printing: meta.k8s.io Tables and the cell formats kubectl expects.

kubectl asks for `as=Table` and prints what it gets, so the columns here are
exactly the ones `kubectl get` shows on Kubernetes (pkg/printers/internalversion);
wide-only columns carry priority 1 and kubectl shows them with `-o wide`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minikube_py.api.meta import parse_time

log = logging.getLogger(__name__)
from minikube_py.api.shape import as_dict, as_list


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", description="Name must be unique within a namespace.", format="name")
AGE = Column("Age", description="CreationTimestamp is a timestamp representing the server time "
                                "when this object was created.")

Row = Callable[[Mapping[str, Any], datetime], list[Any]]


def build_table(columns: tuple[Column, ...], row: Row, objs: Iterable[Mapping[str, Any]], *,
                wide: bool = True, now: datetime | None = None) -> dict[str, Any]:
    """A Table; rows lack `object`, which the api-server fills per `includeObject`."""
    now = now or datetime.now(UTC)
    keep = [i for i, c in enumerate(columns) if wide or c.priority == 0]
    rows = []
    for obj in objs:
        try:
            cells = row(obj, now)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError) as e:
            # Status is written by controllers and kubelets without deep validation; one
            # malformed object must not make `kubectl get` of the whole list fail.
            log.warning("table row unprintable name=%s error=%r", name(obj), e)
            cells = [name(obj) if c.format == "name" else "<unknown>" for c in columns]
        rows.append({"cells": [cells[i] for i in keep]})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [columns[i].definition() for i in keep], "rows": rows}


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: '45s', '3m20s', '5h10m', '12d'."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: datetime) -> str:
    """The AGE cell: '<unknown>' when the object has no such timestamp."""
    if not timestamp or not isinstance(timestamp, str):
        return "<unknown>"
    try:
        when = parse_time(timestamp)
    except ValueError:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def age(obj: Mapping[str, Any], now: datetime) -> str:
    return since(as_dict(obj.get("metadata")).get("creationTimestamp"), now)


def name(obj: Mapping[str, Any]) -> str:
    return str(as_dict(obj.get("metadata")).get("name", ""))


def joined(values: Iterable[Any], empty: str = "<none>") -> str:
    text = ",".join(str(v) for v in values if v not in (None, ""))
    return text or empty


def containers_and_images(template_spec: Mapping[str, Any]) -> tuple[str, str]:
    containers = as_list(template_spec.get("containers"))
    return (joined(c.get("name") for c in containers),
            joined(c.get("image") for c in containers))
