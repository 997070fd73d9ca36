"""The one spelling of keys, timestamps and generated names (api/meta.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from minikube_py.api import meta


@pytest.mark.parametrize(("namespace", "name", "key"), [
    pytest.param("team", "a", "team/a", id="namespaced"),
    pytest.param(None, "node-1", "node-1", id="cluster-none"),
    pytest.param("", "node-1", "node-1", id="cluster-empty"),
])
def test_join_key_is_split_key_inverse(namespace: str | None, name: str, key: str) -> None:
    assert meta.join_key(namespace, name) == key
    assert meta.split_key(key) == (namespace or None, name)
    obj = {"metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}
    assert meta.key(obj) == key


def test_generated_name_appends_five_safe_characters() -> None:
    names = {meta.generated_name("web-") for _ in range(50)}
    assert len(names) > 1
    for name in names:
        assert name.startswith("web-") and len(name) == len("web-") + 5
        assert set(name[4:]) <= set(meta.ALPHANUMS)


def test_safe_encode_maps_into_the_alphabet() -> None:
    # apimachinery rand.SafeEncodeString("12345") (rune % 27 into the alphabet).
    assert meta.safe_encode("012345") == "456789"


@pytest.mark.parametrize(("when", "text"), [
    pytest.param(datetime(2026, 1, 2, 15, 4, 5, 7, tzinfo=UTC), "2026-01-02T15:04:05Z", id="utc"),
    pytest.param(datetime(2026, 1, 2, 17, 4, 5, tzinfo=timezone(timedelta(hours=2))),
                 "2026-01-02T15:04:05Z", id="offset"),
])
def test_format_time_is_utc_seconds(when: datetime, text: str) -> None:
    assert meta.format_time(when) == text
    assert meta.parse_time(text) == when.replace(microsecond=0)


def test_micro_time_keeps_microseconds_and_parses_back() -> None:
    at = datetime(2026, 1, 2, 15, 4, 5, 7, tzinfo=UTC)
    assert meta.micro_time(at) == "2026-01-02T15:04:05.000007Z"
    assert meta.parse_time(meta.micro_time(at)) == at


def test_now_is_rfc3339_and_current() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    assert before <= meta.parse_time(meta.now_rfc3339()) <= datetime.now(UTC)
    assert meta.parse_time(meta.micro_time()) <= datetime.now(UTC)


def test_timestamps_and_generated_names_are_spelt_only_here() -> None:
    """New code formats metav1.Time and draws generateName suffixes through api.meta, not
    with its own strftime pattern or alphabet (they were copied to 3-4 places once)."""
    root = Path(__file__).resolve().parents[2]
    copies = [f"{path.relative_to(root)}: {needle}"
              for package in ("minikube_py", "agent", "cni_plugins")
              for path in sorted((root / package).rglob("*.py"))
              if path != root / "minikube_py/api/meta.py"
              for needle in ("%Y-%m-%dT%H:%M:%S", meta.ALPHANUMS) if needle in path.read_text()]
    assert not copies, "use api.meta's helpers instead of: " + ", ".join(copies)
