"""Object metadata: names, labels, annotations, timestamps, keys, generated names and
conditions: the one place each of these is spelt.

The validators return Kubernetes' own sentences (apimachinery validation.IsDNS1123Subdomain
and friends) because kubectl users paste them into search engines.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_DNS1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = rf"({_QUALIFIED_NAME})?"

DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                     "characters or '-', and must start and end with an alphanumeric character "
                     f"(e.g. 'my-name',  or '123-abc', regex used for validation is '{_LABEL}')")
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                         "characters, '-' or '.', and must start and end with an alphanumeric "
                         "character (e.g. 'example.com', regex used for validation is "
                         f"'{_SUBDOMAIN}')")
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or "
                     "'-', start with an alphabetic character, and end with an alphanumeric "
                     "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                     f"'{_DNS1035}')")
QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and "
                      "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                      "'my.name',  or '123-abc', regex used for validation is "
                      f"'{_QUALIFIED_NAME}')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                   "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                   "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
                   f"validation is '{_LABEL_VALUE}')")

_LABEL_RE = re.compile(f"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(f"^{_SUBDOMAIN}$")
_DNS1035_RE = re.compile(f"^{_DNS1035}$")
_QUALIFIED_RE = re.compile(f"^{_QUALIFIED_NAME}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE}$")

TOTAL_ANNOTATION_BYTES = 256 * 1024
# apimachinery util/rand's alphabet: no vowels and no look-alikes (0/o, 1/l, 3/e).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def dns1123_label(value: str) -> list[str]:
    """Problems with `value` as an RFC 1123 label (namespace names, port names)."""
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL_RE.match(value):
        problems.append(DNS1123_LABEL_MSG)
    return problems


def dns1123_subdomain(value: str) -> list[str]:
    """Problems with `value` as an RFC 1123 subdomain (most object names)."""
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 characters")
    if not _SUBDOMAIN_RE.match(value):
        problems.append(DNS1123_SUBDOMAIN_MSG)
    return problems


def dns1035_label(value: str) -> list[str]:
    """Problems with `value` as a DNS-1035 label (Service names)."""
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _DNS1035_RE.match(value):
        problems.append(DNS1035_LABEL_MSG)
    return problems


def label_key_errors(key: str) -> list[str]:
    """A qualified name: optional DNS subdomain prefix, '/', then a 63-char name."""
    prefix, _, name = key.rpartition("/")
    problems = []
    if "/" in key:
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems += [f"prefix part {p}" for p in dns1123_subdomain(prefix)]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_RE.match(name):
        problems.append(QUALIFIED_NAME_MSG)
    return problems


def label_value_errors(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.match(value):
        problems.append(LABEL_VALUE_MSG)
    return problems


NameValidator = Callable[[str], list[str]]


def validate_name(name: Any, path: str, validator: NameValidator) -> list[Cause]:
    if not isinstance(name, str):
        return [field.invalid(path, name, "must be a string")]
    return [field.invalid(path, name, p) for p in validator(name)]


def validate_labels(labels: Any, path: str) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, Mapping):
        return [field.invalid(path, labels, "must be a map of string keys to string values")]
    causes = []
    for key, value in labels.items():
        causes += [field.invalid(path, key, p) for p in label_key_errors(str(key))]
        if not isinstance(value, str):
            causes.append(field.invalid(f"{path}", value, "label values must be strings"))
        else:
            causes += [field.invalid(path, value, p) for p in label_value_errors(value)]
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    if annotations is None:
        return []
    if not isinstance(annotations, Mapping):
        return [field.invalid(path, annotations, "must be a map of string keys to string values")]
    causes, total = [], 0
    for key, value in annotations.items():
        causes += [field.invalid(path, key, p) for p in label_key_errors(str(key).lower())]
        if not isinstance(value, str):
            causes.append(field.invalid(f"{path}[{key}]", value, "must be a string"))
            continue
        total += len(str(key)) + len(value.encode())
    if total > TOTAL_ANNOTATION_BYTES:
        causes.append(field.too_long(path, TOTAL_ANNOTATION_BYTES))
    return causes


def validate_object_meta(meta: Any, *, namespaced: bool,
                         name_validator: NameValidator = dns1123_subdomain) -> list[Cause]:
    """What every kind checks in metadata before it is written."""
    if not isinstance(meta, Mapping):
        return [field.required("metadata")]
    causes: list[Cause] = []
    name, generate = meta.get("name"), meta.get("generateName")
    if not name and not generate:
        causes.append(field.required("metadata.name", "name or generateName is required"))
    if name:
        causes += validate_name(name, "metadata.name", name_validator)
    if generate and not name:
        # A prefix may end in '-': validate it as if a suffix had been appended.
        if not isinstance(generate, str):
            causes.append(field.invalid("metadata.generateName", generate, "must be a string"))
        else:
            causes += [field.invalid("metadata.generateName", generate, p)
                       for p in name_validator(generate.rstrip("-") or "a")]
    namespace = meta.get("namespace")
    if namespaced:
        if not namespace:
            causes.append(field.required("metadata.namespace"))
        else:
            causes += validate_name(namespace, "metadata.namespace", dns1123_label)
    elif namespace:
        causes.append(field.forbidden("metadata.namespace", "not allowed on this type"))
    causes += validate_labels(meta.get("labels"), "metadata.labels")
    causes += validate_annotations(meta.get("annotations"), "metadata.annotations")
    causes += _validate_string_list(meta.get("finalizers"), "metadata.finalizers")
    causes += _validate_owner_references(meta.get("ownerReferences"))
    return causes


def _validate_string_list(values: Any, path: str) -> list[Cause]:
    if values is None:
        return []
    if not isinstance(values, list):
        return [field.invalid(path, values, "must be a list of strings")]
    causes = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value:
            causes.append(field.invalid(f"{path}[{i}]", value, "must be a non-empty string"))
        elif "/" in value:
            causes += [field.invalid(f"{path}[{i}]", value, p) for p in label_key_errors(value)]
    return causes


def _validate_owner_references(refs: Any) -> list[Cause]:
    path = "metadata.ownerReferences"
    causes: list[Cause] = []
    controllers = 0
    for here, ref in field.objects(refs, path, causes):
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                causes.append(field.required(f"{here}.{key}"))
        controllers += bool(ref.get("controller"))
    if controllers > 1:
        causes.append(field.invalid(path, refs, "Only one reference can have Controller set "
                                                "to true"))
    return causes


def immutable_meta_causes(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    """Fields the server owns that an update may not change."""
    new_meta, old_meta = as_dict(new.get("metadata")), as_dict(old.get("metadata"))
    causes = []
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if key in new_meta and new_meta.get(key) != old_meta.get(key):
            causes.append(field.immutable(f"metadata.{key}", new_meta.get(key)))
    return causes


def now_rfc3339() -> str:
    """Seconds precision with a 'Z', as metav1.Time serialises (time.gmtime: a third
    of datetime's cost, and every create pays it)."""
    return time.strftime(_TIME_FORMAT, time.gmtime())


def format_time(when: datetime) -> str:
    """metav1.Time: RFC 3339 in UTC, seconds precision ("2006-01-02T15:04:05Z")."""
    return when.astimezone(UTC).strftime(_TIME_FORMAT)


def micro_time(at: datetime | None = None) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC ("2006-01-02T15:04:05.000000Z")."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (with 'Z' or an offset, optional fraction)."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def key(obj: Mapping[str, Any]) -> str:
    """The informer/work-queue key: "namespace/name", or "name" if cluster-scoped
    (client-go's MetaNamespaceKeyFunc); the one place that spells it."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    namespace, name = meta.get("namespace"), meta.get("name", "")
    return f"{namespace}/{name}" if namespace else str(name)  # join_key, inlined: every event


def join_key(namespace: str | None, name: str) -> str:
    """The key of `name` in `namespace` (None or "" for cluster-scoped objects)."""
    return f"{namespace}/{name}" if namespace else name


def split_key(k: str) -> tuple[str | None, str]:
    """(namespace, name) from a key; namespace is None for cluster-scoped objects."""
    namespace, sep, name = k.partition("/")
    return (namespace, name) if sep else (None, namespace)


def generated_name(prefix: str) -> str:
    """metadata.generateName's result: the prefix plus 5 random characters, as the
    api-server (and controllers naming what they create) make them."""
    return prefix + "".join(random.choices(ALPHANUMS, k=5))


def safe_encode(text: str) -> str:
    """Each character mapped into ALPHANUMS (apimachinery rand.SafeEncodeString), so a hash
    printed in a name never spells a word."""
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in text)


def newest_marked(objs: list[dict[str, Any]], annotation: str) -> dict[str, Any] | None:
    """The newest object whose `annotation` is "true" (ties by name): how kube-apiserver's
    default StorageClass and IngressClass admission pick among several defaults."""
    marked = [o for o in objs if as_dict(as_dict(o.get("metadata")).get("annotations"))
              .get(annotation) == "true"]
    if not marked:
        return None
    return max(marked, key=lambda o: (as_dict(o.get("metadata")).get("creationTimestamp", ""),
                                      as_dict(o.get("metadata")).get("name", "")))


def owner_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The controller ownerReference (controller: true), if any."""
    for ref in as_dict(obj.get("metadata")).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to `owner`, as controllers set on what they create."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": True}


def get_condition(obj_or_conditions: Any, type_: str) -> dict[str, Any] | None:
    """A condition by type, from an object (status.conditions) or a list."""
    conditions = obj_or_conditions
    if isinstance(obj_or_conditions, Mapping):
        conditions = as_dict(obj_or_conditions.get("status")).get("conditions")
    for condition in conditions or []:
        if condition.get("type") == type_:
            return dict(condition)
    return None


def set_condition(status: dict[str, Any], condition: Mapping[str, Any],
                  *, now: str | None = None) -> bool:
    """Upsert a condition in `status`; lastTransitionTime moves only when status flips.

    Returns True when anything changed, so callers can skip a no-op write.
    """
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    now = now or now_rfc3339()
    for i, existing in enumerate(conditions):
        if existing.get("type") != condition.get("type"):
            continue
        merged = {**existing, **condition}
        if existing.get("status") != condition.get("status"):
            merged["lastTransitionTime"] = condition.get("lastTransitionTime", now)
        else:
            merged["lastTransitionTime"] = existing.get("lastTransitionTime", now)
        if merged == existing:
            return False
        conditions[i] = merged
        return True
    conditions.append({"lastTransitionTime": now, **condition})
    return True
