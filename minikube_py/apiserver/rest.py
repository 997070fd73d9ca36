"""The write verbs on one object: create, get, update (PUT) and patch.

Order of a write, as kube-apiserver's: decode -> check the body names this
resource -> default -> mutating admission webhooks (webhook_admission.py) -> prepare
(server-owned fields, status/spec split) -> validate (422 listing every cause) ->
admission (namespace exists and is not terminating, a claim's default StorageClass,
Service allocation) -> validating admission webhooks -> one etcd transaction. Nothing is
written before every check passed.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.meta import generated_name, now_rfc3339
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import (
    INGRESSES,
    NAMESPACES,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    SERVICES,
    Resource,
)
from minikube_py.api.types import Object
from minikube_py.apiserver import (
    codec,
    defaultingressclass,
    defaultstorageclass,
    fieldmanager,
    nodecredentials,
    noderestriction,
    podsecurity,
    rbac_escalation,
    serviceaccount_admission,
    services,
    views,
    webhook_admission,
)
from minikube_py.apiserver.authn import USER
from minikube_py.apiserver.authz import admit_create
from minikube_py.apiserver.fieldmanager import Writer
from minikube_py.apiserver.objects import decode_item, parse_resource_version, with_version
from minikube_py.apiserver.state import ALLOCATORS, NAMESPACE_LIFECYCLE, OBJECTS
from minikube_py.apiserver.tables import to_table
from minikube_py.apiserver.target import Target
from minikube_py.apiserver.warnings import add_warning
from minikube_py.apiserver.webhook_admission import WebhookAdmission

log = logging.getLogger(__name__)

# A check of the object about to be written (new, old), after validation: RBAC escalation.
Admit = Callable[[Object, Object | None], Awaitable[None]]
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", APPLY_PATCH)


def patch_types(resource: Resource) -> tuple[str, ...]:
    """Custom kinds have no strategic merge (no Go struct tags): 415, as kube-apiserver."""
    if resource.custom:
        return tuple(t for t in PATCH_TYPES if "strategic" not in t)
    return PATCH_TYPES


@contextmanager
def malformed_input(resource: Resource) -> Iterator[None]:
    """A strategy tripping over a wrongly-typed field is the client's 400, not our 500;
    logged with its traceback, since validation should have named the field."""
    try:
        yield
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as e:
        log.warning("strategy failed on malformed %s: %r", resource.plural, e, exc_info=True)
        raise errors.bad_request(f"malformed {resource.kind}: {type(e).__name__}: {e}") \
            from None


def check_kind(resource: Resource, obj: Object) -> None:
    """400 unless the body is (or does not say it is not) this resource's kind."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind is not None and kind != resource.kind:
        raise errors.bad_request(f"the object provided is unrecognized (must be of type "
                                 f"{resource.kind}): kind {kind!r}")
    if api_version is not None and api_version != resource.api_version:
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match "
                                 f"the expected API version ({resource.api_version})")
    obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
    if not isinstance(obj.get("metadata", {}), dict):
        raise errors.bad_request("metadata must be an object")
    obj.setdefault("metadata", {})


def place(target: Target, obj: Object) -> None:
    """Namespace (and for PUT the name) from the URL; a body that disagrees is a 400."""
    meta = obj["metadata"]
    if target.resource.namespaced:
        given = meta.get("namespace")
        if given and given != target.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        meta["namespace"] = target.namespace
    else:
        meta.pop("namespace", None)
    if target.name is not None and meta.get("name", target.name) != target.name:
        raise errors.bad_request("the name of the object "
                                 f"({meta.get('name')}) does not match the name on the URL "
                                 f"({target.name})")
    if target.name is not None:
        meta["name"] = target.name


def dry_run(request: web.Request) -> bool:
    """?dryRun=All (kubectl diff, apply --dry-run=server): every default, check and
    admission runs, nothing is stored; any other value is a 400, as kube-apiserver's."""
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported '
                                     'values: "All"')
    return bool(values)


def validation_error(resource: Resource, obj: Object, causes: list[errors.Cause]
                     ) -> errors.StatusError:
    name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get("generateName", "")
    return errors.invalid(resource, str(name), causes)


def respond(request: web.Request, resource: Resource, obj: Object, status: int = 200
            ) -> web.Response:
    view = views.negotiate(request, views.OBJECT_VIEWS)
    if view is None:
        return codec.json_response(obj, status)
    kind, version = view
    if kind == views.PARTIAL:
        return codec.json_response(views.partial(obj, version), status)
    table = to_table(request, resource, [obj], version,
                     {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
    return codec.json_response(table, status)


def _admission(request: web.Request, target: Target) -> Admit | None:
    """The validating admission a write needs, by who writes what: RBAC escalation
    prevention for the RBAC kinds, NodeRestriction for nodes' Node and pod-status writes."""
    checks = []
    if target.resource in rbac_escalation.RBAC_KINDS:
        checks.append(rbac_escalation.check)
    if noderestriction.applies(target, request.get(USER)):
        checks.append(noderestriction.admit)
    if not checks:
        return None

    async def admit(new: Object, old: Object | None) -> None:
        for check in checks:
            await check(request, target, new, old)
    return admit


async def _mutated(app: web.Application, target: Target, webhooks: WebhookAdmission,
                   new: Object, old: Object | None) -> Object:
    """The object as the mutating webhooks left it, defaulted again (as kube-apiserver
    decodes a patched object with defaulting); it must still be the object addressed."""
    if target.resource.namespaced and old is None:
        await app[NAMESPACE_LIFECYCLE].admit(new["metadata"]["namespace"])
    mutated = await webhooks.mutate(new, old)
    assert mutated is not None
    check_kind(target.resource, mutated)
    place(target, mutated)
    with malformed_input(target.resource):
        strategy_for(target.resource).default(mutated)
    return mutated


def _webhooks(request: web.Request, target: Target, operation: str, dry: bool
              ) -> WebhookAdmission | None:
    """The admission webhooks this write reaches (None: no configured webhook does)."""
    options: dict[str, Any] = {"dryRun": ["All"]} if dry else {}
    if "fieldManager" in request.query:
        options["fieldManager"] = request.query["fieldManager"]
    return webhook_admission.for_request(request, target, operation, dry_run=dry,
                                         options=options)


async def create_object(app: web.Application, target: Target, obj: Object, *,
                        dry_run: bool = False, admit: Admit | None = None,
                        writer: Writer | None = None,
                        webhooks: WebhookAdmission | None = None) -> Object:
    """Default, mutate (webhooks), prepare, validate, admit (built-ins, then validating
    webhooks) and store a new object (shared with bootstrap); `writer`'s fields are
    recorded in managedFields."""
    resource, store = target.resource, app[OBJECTS]
    check_kind(resource, obj)
    place(target, obj)
    strategy = strategy_for(resource)
    with malformed_input(resource):
        strategy.default(obj)
    if webhooks is not None:
        obj = await _mutated(app, target, webhooks, obj, None)
    meta = obj["metadata"]
    if not meta.get("name") and isinstance(meta.get("generateName"), str):
        meta["name"] = generated_name(meta["generateName"])
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    meta.pop("resourceVersion", None)
    with malformed_input(resource):
        strategy.prepare_create(obj)
        if writer is not None:
            fieldmanager.track_update(resource, writer, None, obj)
        causes = strategy.validate_create(obj)
    if causes:
        raise validation_error(resource, obj, causes)
    if admit is not None:
        await admit(obj, None)
    if resource.namespaced:
        await app[NAMESPACE_LIFECYCLE].admit(meta["namespace"])
    if resource is PERSISTENTVOLUMECLAIMS:
        await defaultstorageclass.admit(store, obj)
    if resource is INGRESSES:
        await defaultingressclass.admit(store, obj)
    if webhooks is not None:
        await webhooks.validate(obj, None)
    if dry_run:
        return obj
    if resource is SERVICES:
        undo = await services.allocate_create(app[ALLOCATORS], obj)
        try:
            return await store.create(resource, obj)
        except BaseException:
            await undo()
            raise
    return await store.create(resource, obj)


def writer_of(request: web.Request, target: Target, kind: str) -> Writer:
    """The Update manager of a write: ?fieldManager=, else the User-Agent's prefix."""
    return fieldmanager.writer(request.query.get("fieldManager", ""),
                               request.headers.get("User-Agent", ""), target.subresource,
                               kind=kind)


async def _admit_new(request: web.Request, target: Target, obj: Object) -> None:
    """The mutating and validating admission only a create goes through."""
    admit_create(request, target, obj)
    if nodecredentials.applies(target, obj):
        await nodecredentials.admit(request, obj, dry_run=dry_run(request))
    if target.resource is PODS:
        await serviceaccount_admission.admit_pod(request.app, target.namespace or "", obj)
    if podsecurity.applies(target):
        await podsecurity.admit(request, target, obj)


async def create(request: web.Request, target: Target) -> web.Response:
    who = writer_of(request, target, "CreateOptions")
    obj = await codec.read_object(request)
    check_kind(target.resource, obj)
    place(target, obj)
    await _admit_new(request, target, obj)
    dry = dry_run(request)
    created = await create_object(request.app, target, obj, dry_run=dry,
                                  admit=_admission(request, target), writer=who,
                                  webhooks=_webhooks(request, target, "CREATE", dry))
    return respond(request, target.resource, created, 201)


async def get(request: web.Request, target: Target) -> web.Response:
    assert target.name is not None
    item = await request.app[OBJECTS].get_item(target.resource, target.namespace, target.name)
    if views.negotiate(request, views.OBJECT_VIEWS) is None:
        return codec.raw_json_response(with_version(item.value, item.mod_revision))
    return respond(request, target.resource, decode_item(item))


def _released(resource: Resource, obj: Object) -> bool:
    """A deleted object nothing holds any more: no finalizer left, no grace period running,
    and for a namespace no spec.finalizers either (the namespace controller's, cleared
    through /finalize only once the namespace is empty)."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers") \
            or meta.get("deletionGracePeriodSeconds"):
        return False
    return resource is not NAMESPACES or not (obj.get("spec") or {}).get("finalizers")


async def write_update(app: web.Application, target: Target, new: Object, old: Object,
                       subresource: str | None = None, *, dry_run: bool = False,
                       admit: Admit | None = None, writer: Writer | None = None,
                       webhooks: WebhookAdmission | None = None) -> Object:
    """Store `new` over `old` (compare-and-swap on old's resourceVersion), after the
    mutating webhooks and the strategy's prepare and validate, then the validating
    webhooks, `writer`'s changes recorded in managedFields; a last finalizer removed from
    a deleted object deletes it."""
    resource, store = target.resource, app[OBJECTS]
    strategy = strategy_for(resource)
    with malformed_input(resource):
        strategy.default(new)
    if webhooks is not None:
        new = await _mutated(app, target, webhooks, new, old)
    with malformed_input(resource):
        strategy.prepare_update(new, old, subresource)
        if writer is not None:
            fieldmanager.track_update(resource, writer, old, new)
        causes = strategy.validate_update(new, old)
    if causes:
        raise validation_error(resource, new, causes)
    if admit is not None:
        await admit(new, old)
    if webhooks is not None:
        await webhooks.validate(new, old)
    expected = int(old["metadata"]["resourceVersion"])
    meta = new["metadata"]
    if dry_run:
        meta["resourceVersion"] = str(expected)
        return new
    if _released(resource, new):
        return await store.delete(resource, old, expected)
    if resource is SERVICES and subresource is None:
        undo, commit = await services.allocate_update(app[ALLOCATORS], new, old)
        try:
            stored = await store.update(resource, new, expected)
        except BaseException:
            await undo()
            raise
        await commit()
        return stored
    stored = await store.update(resource, new, expected)
    if resource is NAMESPACES:
        app[NAMESPACE_LIFECYCLE].saw(stored)
    return stored


async def update(request: web.Request, target: Target) -> web.Response:
    assert target.name is not None
    who = writer_of(request, target, "UpdateOptions")
    new = await codec.read_object(request)
    check_kind(target.resource, new)
    place(target, new)
    dry = dry_run(request)
    stored = await updated_object(request.app, target, new, dry_run=dry,
                                  admit=_admission(request, target), writer=who,
                                  webhooks=_webhooks(request, target, "UPDATE", dry))
    return respond(request, target.resource, stored)


async def updated_object(app: web.Application, target: Target, new: Object, *,
                         dry_run: bool = False, admit: Admit | None = None,
                         writer: Writer | None = None,
                         webhooks: WebhookAdmission | None = None) -> Object:
    """PUT semantics: the body's resourceVersion, if any, must still be current; without
    one the update is unconditional (retried if the object moves while we write)."""
    assert target.name is not None
    wanted = parse_resource_version(new["metadata"].get("resourceVersion"))
    for _ in range(16):
        old = await app[OBJECTS].get(target.resource, target.namespace, target.name)
        if wanted and wanted != int(old["metadata"]["resourceVersion"]):
            raise errors.conflict(target.resource, target.name)
        try:
            return await write_update(app, target, copy.deepcopy(new), old,
                                      target.subresource, dry_run=dry_run, admit=admit,
                                      writer=writer, webhooks=webhooks)
        except errors.StatusError as e:
            if e.code != 409 or e.reason != "Conflict" or wanted:
                raise
    raise errors.conflict(target.resource, target.name, "too many concurrent updates")


def _apply_patch(old: Object, body: Any, content_type: str, resource: Resource) -> Object:
    from minikube_py.api.patch import apply_patch
    patched: Object = apply_patch(old, body, content_type, resource)
    return patched


async def patch(request: web.Request, target: Target) -> web.Response:
    """PATCH: read, apply the patch, write with compare-and-swap; retried on conflict
    unless the patch itself pins a resourceVersion."""
    assert target.name is not None
    content_type = request.content_type
    accepted = patch_types(target.resource)
    if content_type not in accepted:
        raise errors.unsupported_media_type(list(accepted))
    if content_type == APPLY_PATCH:
        return await apply(request, target)
    if "force" in request.query:
        raise fieldmanager.options_invalid("PatchOptions", "force", "Forbidden: may not be "
                                           "specified for non-apply patch", "FieldValueForbidden")
    who = writer_of(request, target, "PatchOptions")
    body = codec.decode(await codec.read_body(request), content_type)
    dry = dry_run(request)
    stored = await patch_object(request.app, target, body, content_type, dry_run=dry,
                                admit=_admission(request, target), writer=who,
                                webhooks=_webhooks(request, target, "UPDATE", dry))
    return respond(request, target.resource, stored)


async def patch_object(app: web.Application, target: Target, body: Any,
                       content_type: str, *, dry_run: bool = False,
                       admit: Admit | None = None, writer: Writer | None = None,
                       webhooks: WebhookAdmission | None = None) -> Object:
    assert target.name is not None
    pinned = isinstance(body, dict) and isinstance(body.get("metadata"), dict) \
        and body["metadata"].get("resourceVersion")
    for _ in range(16):
        old = await app[OBJECTS].get(target.resource, target.namespace, target.name)
        new = _apply_patch(old, body, content_type, target.resource)
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise errors.bad_request("the patch did not produce an object with metadata")
        check_kind(target.resource, new)
        place(target, new)
        if pinned and parse_resource_version(pinned) != int(old["metadata"]["resourceVersion"]):
            raise errors.conflict(target.resource, target.name)
        try:
            return await write_update(app, target, new, old, target.subresource,
                                      dry_run=dry_run, admit=admit, writer=writer,
                                      webhooks=webhooks)
        except errors.StatusError as e:
            if e.code != 409 or e.reason != "Conflict" or pinned:
                raise
    raise errors.conflict(target.resource, target.name, "too many concurrent updates")


async def apply(request: web.Request, target: Target) -> web.Response:
    """Server-side apply: PATCH application/apply-patch+yaml. Creates the object when it
    does not exist (201), as kube-apiserver does for the main resource."""
    who, force = apply_options(request, target)
    config = fieldmanager.check_config(codec.decode(await codec.read_body(request), APPLY_PATCH),
                                       target.resource.api_version, target.resource.kind)
    place(target, config)
    _undeclared_fields(request, target.resource, config)
    stored, created = await applied_object(request, target, config, who, force=force)
    return respond(request, target.resource, stored, 201 if created else 200)


def apply_options(request: web.Request, target: Target) -> tuple[Writer, bool]:
    """The Apply manager (?fieldManager=, required) and ?force= of an apply patch."""
    manager = request.query.get("fieldManager", "")
    fieldmanager.manager_problems(manager, "PatchOptions")
    if not manager:
        raise fieldmanager.options_invalid("PatchOptions", "fieldManager", "Required value: is "
                                           "required for apply patch", "FieldValueRequired")
    return Writer(manager, target.subresource), codec.go_bool(request.query.get("force"),
                                                              "force")


def _undeclared_fields(request: web.Request, resource: Resource, config: Object) -> None:
    """Fields the kind does not declare are dropped from an applied configuration before
    anyone owns them: refused with fieldValidation=Strict (kubectl's default), a warning
    with Warn (the server's default), silently with Ignore."""
    directive = request.query.get("fieldValidation", "Warn")
    if directive not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(f'fieldValidation: Unsupported value: "{directive}": '
                                 'supported values: "Ignore", "Strict", "Warn"')
    with malformed_input(resource):
        removed = strategy_for(resource).prune(config)
    if removed and directive == "Strict":
        raise errors.bad_request(f"failed to create typed patch object ({resource.api_version}"
                                 f", Kind={resource.kind}): " + "\n".join(
                                     f".{path}: field not declared in schema" for path in removed))
    if directive == "Warn":
        for path in removed:
            add_warning(request, f'unknown field "{path}"')


async def applied_object(request: web.Request, target: Target, config: Object, who: Writer, *,
                         force: bool) -> tuple[Object, bool]:
    """Read, apply, write with compare-and-swap (retried when the object moves unless
    the configuration pins a resourceVersion); (object, whether it was created)."""
    assert target.name is not None
    app, resource = request.app, target.resource
    pinned = parse_resource_version(config["metadata"].get("resourceVersion"))
    for _ in range(16):
        try:
            old: Object | None = await app[OBJECTS].get(resource, target.namespace,
                                                        target.name)
        except errors.StatusError as e:
            if e.code != 404 or target.subresource is not None:
                raise
            old = None
        if pinned and (old is None or pinned != int(old["metadata"]["resourceVersion"])):
            raise errors.conflict(resource, target.name)
        with malformed_input(resource):
            new = fieldmanager.apply_config(resource, who, old, config, force=force)
        dry = dry_run(request)
        try:
            if old is None:
                assert new is not None
                await _admit_new(request, target, new)
                return await create_object(app, target, new, dry_run=dry,
                                           admit=_admission(request, target),
                                           webhooks=_webhooks(request, target, "CREATE",
                                                              dry)), True
            if new is None:
                return old, False
            return await write_update(app, target, new, old, target.subresource,
                                      dry_run=dry, admit=_admission(request, target),
                                      webhooks=_webhooks(request, target, "UPDATE",
                                                         dry)), False
        except errors.StatusError as e:
            if e.code != 409 or e.reason not in ("Conflict", "AlreadyExists") or pinned:
                raise
    raise errors.conflict(resource, target.name, "too many concurrent updates")
