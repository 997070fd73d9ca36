"""views.negotiate: which meta.k8s.io view an Accept header asks for, or a 406."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from minikube_py.api.errors import StatusError
from minikube_py.apiserver import views

KUBECTL_GET = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;"
               "v=v1beta1;g=meta.k8s.io,application/json")
METADATA_CLIENT = ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;"
                   "g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;"
                   "g=meta.k8s.io;v=v1,application/json")


@pytest.mark.parametrize("accept,allowed,view", [
    pytest.param("", views.LIST_VIEWS, None, id="none"),
    pytest.param("application/json", views.OBJECT_VIEWS, None, id="plain"),
    pytest.param(KUBECTL_GET, views.LIST_VIEWS, ("Table", "v1"), id="kubectl-get"),
    pytest.param("application/json;as=Table;v=v1beta1;g=meta.k8s.io", views.OBJECT_VIEWS,
                 ("Table", "v1beta1"), id="table-beta"),
    pytest.param(METADATA_CLIENT, views.LIST_VIEWS, ("PartialObjectMetadataList", "v1"),
                 id="metadata-list"),
    pytest.param(METADATA_CLIENT, views.OBJECT_VIEWS, None, id="list-view-on-get-falls-back"),
    pytest.param("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
                 views.OBJECT_VIEWS, ("PartialObjectMetadata", "v1"), id="metadata"),
    pytest.param("application/json;as=Table;v=v2;g=meta.k8s.io,*/*", views.OBJECT_VIEWS,
                 None, id="unknown-version-falls-back"),
    pytest.param("application/json;as=Table;v=v1;g=other.io,application/json",
                 views.OBJECT_VIEWS, None, id="other-group-falls-back"),
])
def test_negotiate(accept: str, allowed: tuple[str, ...],
                   view: tuple[str, str] | None) -> None:
    request = make_mocked_request("GET", "/", headers={"Accept": accept} if accept else {})
    assert views.negotiate(request, allowed) == view


def test_no_view_given_and_no_fallback_is_406() -> None:
    request = make_mocked_request("GET", "/", headers={
        "Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"})
    with pytest.raises(StatusError) as caught:
        views.negotiate(request, views.LIST_VIEWS)
    assert caught.value.code == 406 and caught.value.reason == "NotAcceptable"
    assert "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io" in \
        caught.value.message
