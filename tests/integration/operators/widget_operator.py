"""A kopf operator, unchanged from how kopf documents one: it copies a Widget's
spec.size into a ConfigMap it owns and reports the phase in the Widget's status."""

from __future__ import annotations

import os
from typing import Any

import kopf
import kubernetes

GROUP = os.environ["WIDGET_GROUP"]


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.peering.standalone = True
    settings.posting.enabled = False
    kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]  # untyped in kubernetes


@kopf.on.create(GROUP, "v1", "widgets")
def created(spec: kopf.Spec, name: str, namespace: str | None, body: kopf.Body,
            **_: Any) -> dict[str, Any]:
    assert namespace is not None  # a Widget is namespaced
    data: dict[str, Any] = {"metadata": {"name": f"{name}-size"},
                            "data": {"size": str(spec["size"])}}
    kopf.adopt(data, owner=body)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(
        namespace, data)  # type: ignore[arg-type]  # the client sends a dict body as it is
    return {"phase": "Ready"}
