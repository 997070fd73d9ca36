"""A StatefulSet's volumeClaimTemplates (stateful_set_utils.go): one claim
`<template>-<set>-<ordinal>` per template and pod, created before the pod and never
by it, so a replaced pod finds its data again; the pod's volume of the template's
name points at that claim."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from minikube_py.api.meta import owner_reference
from minikube_py.api.resources import PERSISTENTVOLUMECLAIMS
from minikube_py.api.types import Object
from minikube_py.client.errors import AlreadyExists, ApiError

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.client.events import EventRecorder


def claim_name(template: Object, sts: Object, ordinal: int) -> str:
    return f"{template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def claims_for(sts: Object, ordinal: int) -> list[Object]:
    """The claims of one pod: the templates with their names, the set's selector labels,
    and the set as (non-controller) owner when whenDeleted is Delete."""
    match_labels = (sts["spec"].get("selector") or {}).get("matchLabels") or {}
    when_deleted = (sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}).get(
        "whenDeleted", "Retain")
    claims = []
    for template in sts["spec"].get("volumeClaimTemplates") or []:
        meta = copy.deepcopy(template.get("metadata") or {})
        body: Object = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {
            "name": claim_name(template, sts, ordinal),
            "namespace": sts["metadata"]["namespace"],
            "labels": {**(meta.get("labels") or {}), **match_labels},
            "annotations": meta.get("annotations") or {}},
            "spec": copy.deepcopy(template.get("spec") or {})}
        if when_deleted == "Delete":
            body["metadata"]["ownerReferences"] = [owner_reference(sts, controller=False)]
        claims.append(body)
    return claims


def attach(spec: Object, sts: Object, ordinal: int) -> None:
    """Replace (or add) the pod's volume of each template's name with its claim."""
    templates = sts["spec"].get("volumeClaimTemplates") or []
    names = {t["metadata"]["name"] for t in templates}
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in names]
    volumes += [{"name": t["metadata"]["name"],
                 "persistentVolumeClaim": {"claimName": claim_name(t, sts, ordinal)}}
                for t in templates]
    if volumes:
        spec["volumes"] = volumes


async def create_claims(client: ApiClient, recorder: EventRecorder, sts: Object,
                        ordinal: int, pod_name: str) -> bool:
    """Create the pod's missing claims; False (after a FailedCreate event) if one failed."""
    for body in claims_for(sts, ordinal):
        name = body["metadata"]["name"]
        try:
            await client.create(PERSISTENTVOLUMECLAIMS, body)
        except AlreadyExists:
            continue
        except ApiError as e:
            await recorder.event(sts, "Warning", "FailedCreate",
                                 f"create Claim {name} for Pod {pod_name} in StatefulSet "
                                 f"{sts['metadata']['name']} failed error: {e}")
            return False
        await recorder.event(sts, "Normal", "SuccessfulCreate",
                             f"create Claim {name} Pod {pod_name} in StatefulSet "
                             f"{sts['metadata']['name']} success")
    return True
