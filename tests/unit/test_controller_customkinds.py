"""CustomKinds: which informers run and what resolves, as CRDs come, change and go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.client.informer import Informer
from minikube_py.controllers.customkinds import CustomKinds


class NeverAnswers:
    """A list/watch client that never answers (the informers just stay running)."""

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> Object:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def watch(self, resource: Resource, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = False) -> AsyncGenerator[tuple[str, Object], None]:
        await asyncio.Event().wait()
        yield "", {}


class ListsNothing(NeverAnswers):
    """Lists an empty collection at once, then never sends a watch event."""

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> Object:
        return {"metadata": {"resourceVersion": "1"}, "items": []}


def crd(*versions: tuple[str, bool]) -> dict[str, Any]:
    return {"metadata": {"name": "gadgets.x.io"}, "spec": {
        "group": "x.io", "scope": "Namespaced",
        "names": {"plural": "gadgets", "kind": "Gadget"},
        "versions": [{"name": name, "served": served, "storage": i == 0}
                     for i, (name, served) in enumerate(versions)]}}


async def test_followed_per_crd_at_the_preferred_version_resolving_every_served_one() -> None:
    followed: list[str] = []
    kinds = CustomKinds(NeverAnswers(),
                        lambda r, i: followed.append(r.api_version))
    runner = asyncio.create_task(kinds.run())
    try:
        kinds.crd_changed(crd(("v1beta1", True), ("v1", True), ("v1alpha1", False)))
        assert followed == ["x.io/v1"]
        v1 = kinds.for_kind("x.io/v1beta1", "Gadget")
        assert v1 is not None and v1.version == "v1" and v1.custom
        assert kinds.for_kind("x.io/v1alpha1", "Gadget") is None  # not served
        assert kinds.lookup("x.io", "v1", "gadgets") == v1
        informer = kinds.informer(v1)
        assert isinstance(informer, Informer)
        kinds.crd_changed(crd(("v1beta1", True), ("v1", True)))  # same version: kept
        assert followed == ["x.io/v1"] and kinds.informer(v1) is informer
        kinds.crd_changed(crd(("v2", True), ("v1", True)))  # a newer one: followed instead
        assert followed == ["x.io/v1", "x.io/v2"] and len(kinds.followed()) == 1
        kinds.crd_removed(crd())
        assert kinds.followed() == [] and kinds.informer(v1) is None
        assert kinds.for_kind("x.io/v2", "Gadget") is not None  # still resolvable
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_stopping_stops_every_informer() -> None:
    kinds = CustomKinds(NeverAnswers(), lambda r, i: None)
    runner = asyncio.create_task(kinds.run())
    kinds.crd_changed(crd(("v1", True)))
    await asyncio.sleep(0)
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("informer-gadgets")]
    assert len(tasks) == 1
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert tasks[0].done()


async def test_a_kind_is_reported_synced_once_its_first_list_is_in() -> None:
    synced: list[str] = []
    kinds = CustomKinds(ListsNothing(), lambda r, i: None,
                        lambda r: synced.append(r.api_version))
    runner = asyncio.create_task(kinds.run())
    try:
        kinds.crd_changed(crd(("v1", True)))
        assert synced == []  # not before the list
        for _ in range(5):
            await asyncio.sleep(0)
        assert synced == ["x.io/v1"]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
