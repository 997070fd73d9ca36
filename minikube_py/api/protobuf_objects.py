"""Protobuf bodies of the objects `kubectl create <kind>` sends, decoded to their JSON form.

Newer kubectl's typed clients POST Namespaces, ConfigMaps, Secrets, ServiceAccounts,
Deployments, Jobs, Evictions, Services, TokenRequests and self reviews as
`application/vnd.kubernetes.protobuf`, and PUT back objects they read (`kubectl auth
reconcile`), metadata.managedFields included. Each message is a table {field number: (JSON name,
type)} taken from k8s.io/api's generated.proto; a field we have no entry for is a
ValueError (the server's 415), never silently dropped, so a client that sends more than we
understand is told to send JSON instead.

Go's protobuf encoder writes every non-pointer field, empty ones too; JSON omits them
(`omitempty`). So "", 0, false and an unset time are dropped, except for the types marked
"int!"/"bool!": pointers (replicas: 0 means zero) and required numbers (containerPort).
An empty field we have no entry for (a new object's status counters) says nothing and is
skipped; only one carrying a value is refused.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

from minikube_py.api.meta import format_time
from minikube_py.api.protobuf import fields

# A type is a scalar name, or ("msg", table), ("map", value type), ("list", type).
KEPT_WHEN_EMPTY = ("int!", "bool!")
Table = dict[int, tuple[str, Any]]

LABEL_REQUIREMENT: Table = {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", ("list", "str"))}
LABEL_SELECTOR: Table = {1: ("matchLabels", ("map", "str")),
                         2: ("matchExpressions", ("list", ("msg", LABEL_REQUIREMENT)))}
OWNER_REFERENCE: Table = {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"),
                          5: ("apiVersion", "str"), 6: ("controller", "bool"),
                          7: ("blockOwnerDeletion", "bool")}
# FieldsV1 {raw = 1} carries the field set's JSON as bytes.
MANAGED_FIELDS_ENTRY: Table = {1: ("manager", "str"), 2: ("operation", "str"),
                               3: ("apiVersion", "str"), 4: ("time", "time"),
                               6: ("fieldsType", "str"), 7: ("fieldsV1", "fieldsv1"),
                               8: ("subresource", "str")}
OBJECT_META: Table = {
    1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
    4: ("selfLink", "str"), 5: ("uid", "str"), 6: ("resourceVersion", "str"),
    7: ("generation", "int"), 8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int!"), 11: ("labels", ("map", "str")),
    12: ("annotations", ("map", "str")),
    13: ("ownerReferences", ("list", ("msg", OWNER_REFERENCE))),
    14: ("finalizers", ("list", "str")),
    17: ("managedFields", ("list", ("msg", MANAGED_FIELDS_ENTRY))),  # a read object, sent back
}
KEY_VALUE: Table = {1: ("name", "str"), 2: ("value", "str")}
CONTAINER_PORT: Table = {1: ("name", "str"), 2: ("hostPort", "int"),
                         3: ("containerPort", "int!"), 4: ("protocol", "str"),
                         5: ("hostIP", "str")}
RESOURCES: Table = {1: ("limits", ("map", "quantity")), 2: ("requests", ("map", "quantity"))}
CONTAINER: Table = {
    1: ("name", "str"), 2: ("image", "str"), 3: ("command", ("list", "str")),
    4: ("args", ("list", "str")), 5: ("workingDir", "str"),
    6: ("ports", ("list", ("msg", CONTAINER_PORT))), 7: ("env", ("list", ("msg", KEY_VALUE))),
    8: ("resources", ("msg", RESOURCES)), 13: ("terminationMessagePath", "str"),
    14: ("imagePullPolicy", "str"), 16: ("stdin", "bool"), 17: ("stdinOnce", "bool"),
    18: ("tty", "bool"), 20: ("terminationMessagePolicy", "str"),
}
POD_SPEC: Table = {
    2: ("containers", ("list", ("msg", CONTAINER))), 3: ("restartPolicy", "str"),
    4: ("terminationGracePeriodSeconds", "int!"), 5: ("activeDeadlineSeconds", "int!"),
    6: ("dnsPolicy", "str"), 7: ("nodeSelector", ("map", "str")),
    8: ("serviceAccountName", "str"), 9: ("serviceAccount", "str"), 10: ("nodeName", "str"),
    11: ("hostNetwork", "bool"), 12: ("hostPID", "bool"), 13: ("hostIPC", "bool"),
    16: ("hostname", "str"), 17: ("subdomain", "str"), 19: ("schedulerName", "str"),
    24: ("priorityClassName", "str"), 20: ("initContainers", ("list", ("msg", CONTAINER))),
}
POD_TEMPLATE: Table = {1: ("metadata", ("msg", OBJECT_META)), 2: ("spec", ("msg", POD_SPEC))}
ROLLING_UPDATE: Table = {1: ("maxUnavailable", "intorstr"), 2: ("maxSurge", "intorstr")}
STRATEGY: Table = {1: ("type", "str"), 2: ("rollingUpdate", ("msg", ROLLING_UPDATE))}
DEPLOYMENT_SPEC: Table = {
    1: ("replicas", "int!"), 2: ("selector", ("msg", LABEL_SELECTOR)),
    3: ("template", ("msg", POD_TEMPLATE)), 4: ("strategy", ("msg", STRATEGY)),
    5: ("minReadySeconds", "int"), 6: ("revisionHistoryLimit", "int!"), 7: ("paused", "bool"),
    9: ("progressDeadlineSeconds", "int!"),
}
JOB_SPEC: Table = {
    1: ("parallelism", "int!"), 2: ("completions", "int!"), 3: ("activeDeadlineSeconds", "int!"),
    4: ("selector", ("msg", LABEL_SELECTOR)), 5: ("manualSelector", "bool!"),
    6: ("template", ("msg", POD_TEMPLATE)), 7: ("backoffLimit", "int!"),
    8: ("ttlSecondsAfterFinished", "int!"), 9: ("completionMode", "str"),
    10: ("suspend", "bool!"), 14: ("podReplacementPolicy", "str"),
}
DELETE_OPTIONS: Table = {
    1: ("gracePeriodSeconds", "int!"),
    2: ("preconditions", ("msg", {1: ("uid", "str"), 2: ("resourceVersion", "str")})),
    3: ("orphanDependents", "bool!"), 4: ("propagationPolicy", "str"),
    5: ("dryRun", ("list", "str")),
}
SERVICE_PORT: Table = {1: ("name", "str"), 2: ("protocol", "str"), 3: ("port", "int!"),
                       4: ("targetPort", "intorstr"), 5: ("nodePort", "int")}
SERVICE_SPEC: Table = {
    1: ("ports", ("list", ("msg", SERVICE_PORT))), 2: ("selector", ("map", "str")),
    3: ("clusterIP", "str"), 4: ("type", "str"), 11: ("externalName", "str"),
}
OBJECT_REFERENCE: Table = {1: ("kind", "str"), 2: ("namespace", "str"), 3: ("name", "str")}
EMPTY: Table = {}
POLICY_RULE: Table = {1: ("verbs", ("list", "str")), 2: ("apiGroups", ("list", "str")),
                      3: ("resources", ("list", "str")), 4: ("resourceNames", ("list", "str")),
                      5: ("nonResourceURLs", ("list", "str"))}
SUBJECT: Table = {1: ("kind", "str"), 2: ("apiGroup", "str"), 3: ("name", "str"),
                  4: ("namespace", "str")}
ROLE_REF: Table = {1: ("apiGroup", "str"), 2: ("kind", "str"), 3: ("name", "str")}
RESOURCE_ATTRIBUTES: Table = {1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"),
                              4: ("version", "str"), 5: ("resource", "str"),
                              6: ("subresource", "str"), 7: ("name", "str")}
NON_RESOURCE_ATTRIBUTES: Table = {1: ("path", "str"), 2: ("verb", "str")}
SUBJECT_ACCESS_REVIEW_SPEC: Table = {
    1: ("resourceAttributes", ("msg", RESOURCE_ATTRIBUTES)),
    2: ("nonResourceAttributes", ("msg", NON_RESOURCE_ATTRIBUTES)),
    3: ("user", "str"), 4: ("groups", ("list", "str")), 6: ("uid", "str")}


def _object(spec: Table | None = None, **extra: tuple[int, tuple[str, Any]]) -> Table:
    table: Table = {1: ("metadata", ("msg", OBJECT_META))}
    if spec is not None:
        table[2] = ("spec", ("msg", spec))
        table[3] = ("status", ("msg", EMPTY))  # a new object's status is empty
    table.update(dict(extra.values()))
    return table


KINDS: dict[str, Table] = {
    "Namespace": _object({1: ("finalizers", ("list", "str"))}),
    "ConfigMap": _object(data=(2, ("data", ("map", "str"))),
                         binary=(3, ("binaryData", ("map", "bytes"))),
                         immutable=(4, ("immutable", "bool!"))),
    "Secret": _object(data=(2, ("data", ("map", "bytes"))), type=(3, ("type", "str")),
                      string=(4, ("stringData", ("map", "str"))),
                      immutable=(5, ("immutable", "bool!"))),
    "ServiceAccount": _object(
        secrets=(2, ("secrets", ("list", ("msg", OBJECT_REFERENCE)))),
        pull=(3, ("imagePullSecrets", ("list", ("msg", {1: ("name", "str")})))),
        automount=(4, ("automountServiceAccountToken", "bool!"))),
    "Deployment": _object(DEPLOYMENT_SPEC),
    "Service": _object(SERVICE_SPEC),
    "Job": _object(JOB_SPEC),  # kubectl create job [--from=cronjob/x]
    "Eviction": _object(options=(2, ("deleteOptions", ("msg", DELETE_OPTIONS)))),  # drain
    "SelfSubjectReview": _object(  # kubectl auth whoami
        status=(2, ("status", ("msg", {1: ("userInfo", ("msg", EMPTY))})))),
    "SelfSubjectAccessReview": _object({  # kubectl auth can-i
        1: ("resourceAttributes", ("msg", RESOURCE_ATTRIBUTES)),
        2: ("nonResourceAttributes", ("msg", NON_RESOURCE_ATTRIBUTES))}),
    "SelfSubjectRulesReview": _object({1: ("namespace", "str")}),  # kubectl auth can-i --list
    "SubjectAccessReview": _object(SUBJECT_ACCESS_REVIEW_SPEC),
    "LocalSubjectAccessReview": _object(SUBJECT_ACCESS_REVIEW_SPEC),
    # kubectl create role/clusterrole/rolebinding/clusterrolebinding, auth reconcile
    "Role": _object(rules=(2, ("rules", ("list", ("msg", POLICY_RULE))))),
    "ClusterRole": _object(
        rules=(2, ("rules", ("list", ("msg", POLICY_RULE)))),
        aggregation=(3, ("aggregationRule", ("msg", {
            1: ("clusterRoleSelectors", ("list", ("msg", LABEL_SELECTOR)))})))),
    "RoleBinding": _object(subjects=(2, ("subjects", ("list", ("msg", SUBJECT)))),
                           ref=(3, ("roleRef", ("msg", ROLE_REF)))),
    "ClusterRoleBinding": _object(subjects=(2, ("subjects", ("list", ("msg", SUBJECT)))),
                                  ref=(3, ("roleRef", ("msg", ROLE_REF)))),
    "TokenRequest": _object({  # kubectl create token
        1: ("audiences", ("list", "str")), 4: ("expirationSeconds", "int"),
        3: ("boundObjectRef", ("msg", {1: ("kind", "str"), 2: ("apiVersion", "str"),
                                       3: ("name", "str"), 4: ("uid", "str")}))}),
}

# Kinds whose message differs between versions, by (apiVersion, kind).
VERSIONED_KINDS: dict[tuple[str, str], Table] = {
    # kubectl autoscale (<= 1.32), k8s.io/api/autoscaling/v1/generated.proto
    ("autoscaling/v1", "HorizontalPodAutoscaler"): _object({
        1: ("scaleTargetRef", ("msg", {1: ("kind", "str"), 2: ("name", "str"),
                                       3: ("apiVersion", "str")})),
        2: ("minReplicas", "int!"), 3: ("maxReplicas", "int!"),
        4: ("targetCPUUtilizationPercentage", "int!")}),
}



def _scalar(kind: str, value: int | bytes) -> Any:
    if kind in ("str", "bytes", "quantity", "time", "intorstr", "fieldsv1"):
        if not isinstance(value, bytes):
            raise ValueError(f"{kind}: expected a length-delimited field")
    elif isinstance(value, bytes):
        raise ValueError(f"{kind}: expected a varint field")
    if kind == "str":
        return value.decode()  # type: ignore[union-attr]
    if kind == "bytes":
        return base64.b64encode(value).decode()  # type: ignore[arg-type]
    if kind in ("int", "int!"):
        return value - (1 << 64) if value >= 1 << 63 else value  # type: ignore[operator]
    if kind in ("bool", "bool!"):
        return bool(value)
    if kind == "quantity":  # resource.Quantity {string = 1}
        return next((_scalar("str", v) for n, _, v in fields(value) if n == 1), "")  # type: ignore[arg-type]
    if kind == "time":  # metav1.Time {seconds = 1, nanos = 2}; an unset time is absent
        seconds = next((v for n, _, v in fields(value) if n == 1), 0)  # type: ignore[arg-type]
        if not seconds:
            return None
        return format_time(datetime.fromtimestamp(int(seconds), UTC))
    if kind == "fieldsv1":  # FieldsV1 {raw = 1}: JSON bytes
        raw = next((v for n, _, v in fields(value) if n == 1), b"{}")  # type: ignore[arg-type]
        if not isinstance(raw, bytes):
            raise ValueError("fieldsV1: expected a length-delimited field")
        return orjson.loads(raw)
    if kind == "intorstr":  # IntOrString {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}
        parts = {n: v for n, _, v in fields(value)}  # type: ignore[arg-type]
        return _scalar("str", parts[3]) if parts.get(1) == 1 else int(parts.get(2, 0))
    raise ValueError(f"unknown scalar type {kind}")


def _map_entry(raw: bytes, value_type: Any) -> tuple[str, Any]:
    key: str = ""
    value: Any = "" if value_type in ("str", "bytes") else None  # proto3 omits empty values
    for number, _, item in fields(raw):
        if number == 1:
            key = _scalar("str", item)
        elif number == 2:
            value = _value(value_type, item)
    return key, value


def _value(kind: Any, item: int | bytes) -> Any:
    if isinstance(kind, tuple) and kind[0] == "msg":
        if not isinstance(item, bytes):
            raise ValueError("expected an embedded message")
        return decode_message(kind[1], item)
    return _scalar(kind, item)


def decode_message(table: Table, raw: bytes) -> dict[str, Any]:
    """One protobuf message as JSON, by its field table; unknown fields are refused."""
    out: dict[str, Any] = {}
    for number, _, item in fields(raw):
        if number not in table:
            if item in (0, b""):
                continue
            raise ValueError(f"field {number} is not understood here; send application/json")
        name, kind = table[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            if not isinstance(item, bytes):
                raise ValueError(f"{name}: expected a map entry")
            key, value = _map_entry(item, kind[1])
            out.setdefault(name, {})[key] = value
        elif isinstance(kind, tuple) and kind[0] == "list":
            out.setdefault(name, []).append(_value(kind[1], item))
        else:
            value = _value(kind, item)
            if value not in ("", 0, False, None) or kind in KEPT_WHEN_EMPTY \
                    or isinstance(value, dict):
                out[name] = value
    return out
