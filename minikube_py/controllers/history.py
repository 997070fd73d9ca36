"""ControllerRevisions for DaemonSets and StatefulSets (Kubernetes'
controller_history.go and the daemon/stateful `constructHistory`).

A revision's data is the strategic merge patch that puts its template back
(`{"spec": {"template": {..., "$patch": "replace"}}}`), which is exactly what
`kubectl rollout undo` applies. Its name is `<owner>-<hash of the template>`,
its labels the template's plus `controller-revision-hash`, and the pods made
from it carry the same label, so a pod's revision is one label away.
"""

from __future__ import annotations

import copy
import logging

from minikube_py.api.meta import owner_of, owner_reference
from minikube_py.api.resources import CONTROLLERREVISIONS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, NotFound
from minikube_py.controllers.deployment_util import pruned, template_hash

log = logging.getLogger(__name__)

HASH_LABEL = "controller-revision-hash"


def revision_data(owner: Object) -> Object:
    template = pruned(copy.deepcopy(owner["spec"].get("template") or {}))
    return {"spec": {"template": {**template, "$patch": "replace"}}}


def template_of(revision: Object) -> Object:
    """The pod template a revision records."""
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def revision_number(revision: Object) -> int:
    return int(revision.get("revision") or 0)


def owned(owner: Object, revisions: list[Object]) -> list[Object]:
    uid = owner["metadata"]["uid"]
    return sorted((r for r in revisions if (owner_of(r) or {}).get("uid") == uid),
                  key=revision_number)


async def current_revision(client: ApiClient, owner: Object, revisions: list[Object]
                           ) -> Object:
    """The revision of the owner's template as it is now: an existing one (renumbered
    to be the newest, as after `rollout undo`), or a new one."""
    data = revision_data(owner)
    newest = max((revision_number(r) for r in revisions), default=0)
    for revision in revisions:
        if revision.get("data") == data:
            if revision_number(revision) < newest:
                return await client.update(CONTROLLERREVISIONS,
                                           {**revision, "revision": newest + 1})
            return revision
    collisions = int((owner.get("status") or {}).get("collisionCount") or 0)
    while True:
        digest = template_hash(owner["spec"].get("template") or {}, collisions)
        name = f"{owner['metadata']['name']}-{digest}"
        body: Object = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {
            "name": name, "namespace": owner["metadata"]["namespace"],
            "labels": {**(((owner["spec"].get("template") or {}).get("metadata") or {})
                          .get("labels") or {}), HASH_LABEL: digest},
            "ownerReferences": [owner_reference(owner)]},
            "data": data, "revision": newest + 1}
        try:
            return await client.create(CONTROLLERREVISIONS, body)
        except AlreadyExists:
            existing = await client.get(CONTROLLERREVISIONS, name,
                                        owner["metadata"]["namespace"])
            if existing.get("data") == data and (owner_of(existing) or {}).get("uid") == \
                    owner["metadata"]["uid"]:
                return existing
            collisions += 1  # a hash collision: Kubernetes bumps status.collisionCount
            log.info("revision name collision owner=%s/%s kind=%s",
                     owner["metadata"]["namespace"], owner["metadata"]["name"], owner["kind"])


def hash_of(revision: Object) -> str:
    return str((revision["metadata"].get("labels") or {}).get(HASH_LABEL, ""))


async def truncate(client: ApiClient, owner: Object, revisions: list[Object],
                   live: set[str], keep: set[str]) -> None:
    """Delete the oldest revisions beyond revisionHistoryLimit that no live pod uses
    (`live`: hashes on pods) and that are not current (`keep`: names)."""
    limit = int(owner["spec"].get("revisionHistoryLimit", 10))
    spare = [r for r in revisions if hash_of(r) not in live
             and r["metadata"]["name"] not in keep]
    for revision in spare[:max(len(spare) - limit, 0)]:
        try:
            await client.delete(CONTROLLERREVISIONS, revision["metadata"]["name"],
                                revision["metadata"]["namespace"])
        except NotFound:
            pass
