"""EncryptionConfiguration parsing: Kubernetes' format in, one line naming the field out."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube_py.apiserver import encryption_config
from minikube_py.apiserver.encryption_config import ConfigError, parse

KEY32 = base64.b64encode(b"k" * 32).decode()


def config(*providers: dict[str, Any], names: tuple[str, ...] = ("secrets",)
           ) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": list(names), "providers": list(providers)}]}


def keyed(kind: str, *keys: tuple[str, str]) -> dict[str, Any]:
    return {kind: {"keys": [{"name": n, "secret": s} for n, s in keys]}}


def test_the_generated_default_is_secretbox_then_identity_and_private(tmp_path: Path) -> None:
    path = encryption_config.ensure_default(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    providers = data["resources"][0]["providers"]
    assert [next(iter(p)) for p in providers] == ["secretbox", "identity"]
    assert len(base64.b64decode(providers[0]["secretbox"]["keys"][0]["secret"])) == 32
    first = path.read_text()
    encryption_config.ensure_default(tmp_path)
    assert path.read_text() == first  # never regenerated: that would lose every Secret
    enc = encryption_config.load(path)
    sealed = enc.seal("/registry/secrets/ns/s", b"{}")
    assert sealed.startswith(b"k8s:enc:secretbox:v1:key1:")
    assert enc.seal("/registry/configmaps/ns/c", b"{}") == b"{}"


@pytest.mark.parametrize("name, key, covered", [
    pytest.param("secrets", "/registry/secrets/ns/a", True, id="core"),
    pytest.param("configmaps", "/registry/secrets/ns/a", False, id="another-kind"),
    pytest.param("deployments.apps", "/registry/deployments/ns/a", True, id="group"),
    pytest.param("*.apps", "/registry/statefulsets/ns/a", True, id="whole-group"),
    pytest.param("*.", "/registry/configmaps/ns/a", True, id="core-group"),
    pytest.param("*.", "/registry/deployments/ns/a", False, id="core-group-not-apps"),
    pytest.param("*.*", "/registry/leases/ns/a", True, id="everything"),
    pytest.param("widgets.example.com", "/registry/example.com/widgets/ns/a", True,
                 id="custom"),
])
def test_resource_names(name: str, key: str, covered: bool) -> None:
    enc = parse(config(keyed("aescbc", ("k", KEY32)), names=(name,)))
    assert enc.seal(key, b"{}").startswith(b"k8s:enc:") is covered


def test_the_first_entry_naming_a_resource_wins() -> None:
    data = config(keyed("aescbc", ("a", KEY32)))
    data["resources"].append({"resources": ["secrets"],
                              "providers": [keyed("secretbox", ("b", KEY32))]})
    assert parse(data).seal("/registry/secrets/x/y", b"{}").startswith(
        b"k8s:enc:aescbc:v1:a:")


@pytest.mark.parametrize("data, field", [
    pytest.param({"kind": "EncryptionConfiguration"}, "apiVersion/kind", id="apiVersion"),
    pytest.param(config(), "resources[0].providers: Required", id="no-providers"),
    pytest.param(config({"identity": {}}, names=()), "resources[0].resources: Required",
                 id="no-resources"),
    pytest.param(config(keyed("aescbc", ("k", base64.b64encode(b"x" * 8).decode()))),
                 "resources[0].providers[0].aescbc.keys[0].secret: Invalid value", id="short"),
    pytest.param(config(keyed("secretbox", ("k", "not base64!"))),
                 "secretbox.keys[0].secret: Invalid value: REDACTED: not base64", id="base64"),
    pytest.param(config(keyed("aescbc", ("", KEY32))), "keys[0].name: Required", id="name"),
    pytest.param(config(keyed("aescbc", ("k", KEY32), ("k", KEY32))), "keys[1].name",
                 id="duplicate-name"),
    pytest.param(config({"aescbc": {"keys": []}}), "aescbc.keys: Required", id="no-keys"),
    pytest.param(config({"kms": {"name": "x"}}), "providers[0].kms: Unsupported",
                 id="kms"),
    pytest.param(config({"rot13": {}}), 'Unsupported value: "rot13"', id="unknown"),
    pytest.param(config({"identity": {}, "aescbc": {}}), "exactly one", id="two-in-one"),
    pytest.param(config({"identity": {}}, names=("se*crets",)), "resources[0].resources[0]",
                 id="bad-name"),
])
def test_bad_configurations_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")
                       .replace("*", r"\*").replace(".", r"\.")):
        parse(data)


def test_a_secret_never_appears_in_an_error() -> None:
    short = base64.b64encode(os.urandom(8)).decode()
    with pytest.raises(ConfigError) as e:
        parse(config(keyed("aescbc", ("k", short))))
    assert short not in str(e.value) and "REDACTED" in str(e.value)


def test_unreadable_or_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        encryption_config.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("resources: [\n")
    with pytest.raises(ConfigError, match="not YAML"):
        encryption_config.load(tmp_path / "bad.yaml")


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=12)
_provider = st.one_of(
    st.dictionaries(st.sampled_from(["aescbc", "secretbox", "identity", "kms", "x"]),
                    _json | st.fixed_dictionaries({"keys": st.lists(st.fixed_dictionaries({
                        "name": st.text(max_size=4),
                        "secret": st.sampled_from([KEY32, "", "!!",
                                                   base64.b64encode(b"y" * 16).decode()])}),
                        max_size=3)}), max_size=2),
    _json)


@settings(max_examples=400, deadline=None)
@given(names=st.lists(st.text(max_size=12) | st.sampled_from(["secrets", "*.*", "*.apps", "*."]),
                      max_size=3) | _json,
       providers=st.lists(_provider, max_size=3) | _json)
def test_fuzz_any_configuration_parses_or_is_refused_cleanly(names: Any, providers: Any) -> None:
    data = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": names, "providers": providers}]}
    try:
        enc = parse(data)
    except ConfigError:
        return
    key = "/registry/secrets/ns/s"
    assert enc.open(key, enc.seal(key, b'{"a":1}')) == b'{"a":1}'
