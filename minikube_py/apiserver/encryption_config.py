"""kube-apiserver's `--encryption-provider-config`: EncryptionConfiguration, read once at start.

The file is Kubernetes' own format (apiserver.config.k8s.io/v1), so one written
for kube-apiserver works here unchanged. Encryption is on by default: without
the flag, the api-server generates DATA_DIR/pki/encryption-config.yaml (0600)
with a fresh secretbox key for Secrets and an `identity` fallback (which keeps
Secrets written before encryption readable). A config that cannot be used is
refused at start with one line naming the field, never at the first read.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from minikube_py.api import resources
from minikube_py.apiserver.objects import REGISTRY
from minikube_py.durable import write_file
from minikube_py.store.encryption import (
    AesCbc,
    Encryption,
    Identity,
    Provider,
    SecretBox,
    Transformer,
)

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
FILE_NAME = "encryption-config.yaml"
_KEYED: dict[str, Callable[[str, bytes], Provider]] = {"aescbc": AesCbc,
                                                       "secretbox": SecretBox}
_UNSUPPORTED = ("aesgcm", "kms")


class ConfigError(ValueError):
    """The configuration cannot be used: says which field and why."""


def default_config() -> dict[str, Any]:
    """A new configuration: Secrets sealed with a fresh 32-byte secretbox key, plain
    Secrets of an older data dir still readable."""
    secret = base64.b64encode(os.urandom(32)).decode()
    return {"apiVersion": API_VERSION, "kind": KIND, "resources": [{
        "resources": ["secrets"],
        "providers": [{"secretbox": {"keys": [{"name": "key1", "secret": secret}]}},
                      {"identity": {}}]}]}


def ensure_default(pki_dir: Path) -> Path:
    """The generated configuration's path, written (0600, fsync'd) if missing."""
    path = pki_dir / FILE_NAME
    if not path.exists():
        write_file(path, yaml.safe_dump(default_config(), sort_keys=False))
    return path


def load(path: Path) -> Encryption:
    """The Encryption a configuration file describes; ConfigError if it is unusable."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not YAML: {e}") from None
    return parse(data)


def parse(data: object) -> Encryption:
    if not isinstance(data, dict):
        raise ConfigError("an EncryptionConfiguration must be a mapping")
    if data.get("apiVersion") != API_VERSION or data.get("kind") != KIND:
        raise ConfigError(f"apiVersion/kind must be {API_VERSION}/{KIND}, got "
                          f"{data.get('apiVersion')}/{data.get('kind')}")
    entries = data.get("resources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("resources: Required value: at least one resource entry")
    transformers: dict[str, Transformer] = {}
    for i, entry in enumerate(entries):
        path = f"resources[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: must be a mapping")
        names = entry.get("resources")
        if not isinstance(names, list) or not names \
                or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{path}.resources: Required value: a list of resource names")
        transformer = Transformer(_providers(entry.get("providers"), f"{path}.providers"))
        for j, name in enumerate(names):
            for prefix in key_prefixes(name, f"{path}.resources[{j}]"):
                transformers.setdefault(prefix, transformer)  # the first entry wins
    return Encryption(transformers)


def key_prefixes(name: str, path: str) -> list[str]:
    """The etcd key prefixes a resource name covers: `secrets`, `<plural>.<group>`,
    `*.<group>`, `*.` (the core group) or `*.*` (every built-in kind)."""
    plural, _, group = name.partition(".")
    if name == "*.*":
        return [f"{REGISTRY}/{r.storage_name}/" for r in resources.ALL]
    if plural == "*":
        return [f"{REGISTRY}/{r.storage_name}/" for r in resources.ALL if r.group == group] \
            or [f"{REGISTRY}/{group}/"]  # a custom kind's group
    if not plural or "*" in name:
        raise ConfigError(f'{path}: Invalid value: "{name}": resource names are '
                          '<plural>, <plural>.<group>, *.<group>, *. or *.*')
    builtin = [r for r in resources.ALL if r.plural == plural and r.group == group]
    return [f"{REGISTRY}/{builtin[0].storage_name}/" if builtin
            else f"{REGISTRY}/{group}/{plural}/"]


def _providers(value: object, path: str) -> list[Provider]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: Required value: at least one provider")
    out: list[Provider] = []
    for i, provider in enumerate(value):
        here = f"{path}[{i}]"
        if not isinstance(provider, dict) or len(provider) != 1:
            raise ConfigError(f"{here}: Invalid value: exactly one provider type per entry")
        (kind, spec), = provider.items()
        if kind == "identity":
            out.append(Identity())
        elif kind in _KEYED:
            out.extend(_keys(kind, spec, f"{here}.{kind}"))
        elif kind in _UNSUPPORTED:
            raise ConfigError(f"{here}.{kind}: Unsupported value: only aescbc, secretbox "
                              "and identity are supported")
        else:
            raise ConfigError(f'{here}: Unsupported value: "{kind}"')
    return out


def _keys(kind: str, spec: object, path: str) -> list[Provider]:
    keys = spec.get("keys") if isinstance(spec, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{path}.keys: Required value: at least one key")
    out: list[Provider] = []
    seen: set[str] = set()
    for i, key in enumerate(keys):
        here = f"{path}.keys[{i}]"
        name = key.get("name") if isinstance(key, dict) else None
        secret = key.get("secret") if isinstance(key, dict) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{here}.name: Required value")
        if ":" in name or name in seen:
            raise ConfigError(f'{here}.name: Invalid value: "{name}": key names are unique '
                              "and have no ':'")
        seen.add(name)
        if not isinstance(secret, str) or not secret:
            raise ConfigError(f"{here}.secret: Required value")
        try:
            raw = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{here}.secret: Invalid value: REDACTED: not base64") from None
        try:
            out.append(_KEYED[kind](name, raw))
        except ValueError as e:
            raise ConfigError(f"{here}.secret: Invalid value: REDACTED: {e}") from None
    return out
