import pytest

from minikube_py.api import resources


@pytest.mark.parametrize(
    ("resource", "namespace", "name", "sub", "expected"),
    [
        pytest.param(resources.PODS, "default", "web", None,
                     "/api/v1/namespaces/default/pods/web", id="namespaced-core"),
        pytest.param(resources.PODS, None, None, None, "/api/v1/pods", id="all-namespaces"),
        pytest.param(resources.DEPLOYMENTS, "ns", "d", "scale",
                     "/apis/apps/v1/namespaces/ns/deployments/d/scale", id="group-subresource"),
        pytest.param(resources.NODES, "ignored", "n1", "status",
                     "/api/v1/nodes/n1/status", id="cluster-scoped"),
    ],
)
def test_paths(resource: resources.Resource, namespace: str | None, name: str | None,
               sub: str | None, expected: str) -> None:
    assert resource.path(namespace, name, sub) == expected


def test_lookup_by_kind_and_plural() -> None:
    assert resources.for_kind("apps/v1", "ReplicaSet") is resources.REPLICASETS
    assert resources.lookup("coordination.k8s.io", "v1", "leases") is resources.LEASES
    assert resources.lookup("", "v1", "nope") is None
