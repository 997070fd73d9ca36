"""Secrets: type Opaque by default, base64 data, stringData folded into data,
and the keys each well-known type requires."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import configdata, field, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
BOOTSTRAP_TOKEN = "bootstrap.kubernetes.io/token"  # kube-system/bootstrap-token-<id>
# kube-system/node-credentials-<node>: the sha256 of a node's `mkpnode:` token (join).
NODE_CREDENTIALS_TYPE = "minikube-py.io/node-credentials"
# kube-system/kubeadm-certs: the control plane's shared PKI, sealed with a certificate key
# (kubeadm's upload-certs); bootstrappers may read it (a host joining as a control plane).
UPLOADED_CERTS = "kubeadm-certs"
# On a token Secret: the ServiceAccount it belongs to.
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
_REQUIRED_KEYS = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def data_field(secret: Mapping[str, Any], key: str) -> str:
    """One decoded `data` value of a stored Secret; "" if missing or not base64 text."""
    raw = (secret.get("data") or {}).get(key)
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw).decode()
    except ValueError:
        return ""


class SecretStrategy(Strategy):
    has_spec = False
    selectable_fields = ("type",)
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Type", description="The type of the secret"),
        table.Column("Data", type="integer", description="The number of entries in data"),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        obj.setdefault("type", "Opaque")
        string_data = obj.get("stringData")
        if isinstance(string_data, Mapping) and all(
                isinstance(v, str) for v in string_data.values()):
            data = obj.get("data")
            if data is None:
                data = obj["data"] = {}
            if isinstance(data, dict):
                for key, value in string_data.items():
                    data[key] = base64.b64encode(value.encode()).decode()
                del obj["stringData"]

    def validate(self, obj: Object) -> list[Cause]:
        causes, size = configdata.validate_map(obj.get("data"), "data", base64_values=True)
        if "stringData" in obj:
            causes.append(field.invalid("stringData", "<value omitted>",
                                        "must be a map of string keys to string values"))
        if size > configdata.MAX_TOTAL_BYTES:
            causes.append(field.too_long("data", configdata.MAX_TOTAL_BYTES))
        kind = obj.get("type")
        if not isinstance(kind, str) or not kind:
            causes.append(field.required("type"))
            return causes
        data = obj.get("data")
        if not isinstance(data, Mapping):
            data = {}
        for key in _REQUIRED_KEYS.get(kind, ()):
            if key not in data:
                causes.append(field.required(f"data[{key}]"))
        if kind == SERVICE_ACCOUNT_TOKEN:
            annotations = as_dict(obj.get("metadata")).get("annotations") or {}
            if not annotations.get(SERVICE_ACCOUNT_NAME_ANNOTATION):
                causes.append(field.required(
                    f"metadata.annotations[{SERVICE_ACCOUNT_NAME_ANNOTATION}]"))
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        causes = configdata.immutable_data_causes(new, old, ("data",))
        if new.get("type") != old.get("type"):
            causes.append(field.immutable("type", new.get("type")))
        return causes

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"type": str_field(obj.get("type"))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), obj.get("type", ""), len(as_dict(obj.get("data"))),
                table.age(obj, now)]
