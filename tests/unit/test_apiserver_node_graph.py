"""The node graph: which node a pod is on and what its pods let that node read."""

from __future__ import annotations

from typing import Any, cast

from minikube_py.api.types import Object
from minikube_py.apiserver.node_graph import NodeGraph
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub


def pod(name: str, node: str, **spec: Any) -> Object:
    return {"metadata": {"namespace": "ns", "name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c"}], **spec}}


WEB = pod("web", "a", serviceAccountName="robot",
          volumes=[{"name": "v", "secret": {"secretName": "tls"}},
                   {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                   {"name": "c", "configMap": {"name": "conf"}}],
          imagePullSecrets=[{"name": "pull"}])


def graph() -> NodeGraph:
    return NodeGraph(cast(ObjectStore, None), cast(WatchHub, None))


async def test_what_a_nodes_pods_use_and_nothing_else() -> None:
    g = graph()
    await g._listed([WEB, pod("db", "b", volumes=[{"name": "v", "secret": {"secretName": "db"}}]),
                     pod("pending", "", volumes=[{"name": "v", "secret": {"secretName": "p"}}])])
    assert g.bound("ns", "web", "a") and not g.bound("ns", "web", "b")
    assert not g.bound("ns", "pending", "")
    assert g.uses_secret("ns", "a", "tls") and g.uses_secret("ns", "a", "pull")
    assert not g.uses_secret("ns", "a", "db") and not g.uses_secret("other", "a", "tls")
    assert g.uses_claim("ns", "a", "data") and not g.uses_claim("ns", "b", "data")
    assert g.uses_configmap("ns", "a", "conf") and not g.uses_configmap("ns", "b", "conf")
    assert not g.uses_configmap("ns", "a", "tls") and not g.uses_secret("ns", "a", "conf")
    assert g.runs_as("ns", "a", "robot") and g.runs_as("ns", "b", "default")
    assert not g.runs_as("ns", "a", "default")


async def test_changes_move_and_drop_what_a_node_may_read() -> None:
    g = graph()
    await g._listed([WEB])
    await g._changed("PUT", pod("web", "b", serviceAccountName="robot"))  # re-created elsewhere
    assert g.bound("ns", "web", "b") and not g.uses_secret("ns", "a", "tls")
    assert ("ns", "a") not in g.on_node
    await g._changed("DELETE", pod("web", "b"))
    assert not g.bound("ns", "web", "b") and not g.on_node and not g.pods


async def test_node_pod_cidrs_follow_the_nodes() -> None:
    g = graph()
    await g._nodes_listed([{"metadata": {"name": "a"}, "spec": {"podCIDR": "10.244.1.0/24"}},
                           {"metadata": {"name": "b"}, "spec": {}}])
    assert g.pod_cidrs == {"a": "10.244.1.0/24"}
    await g._node_changed("PUT", {"metadata": {"name": "b"}, "spec": {"podCIDR": "10.244.2.0/24"}})
    await g._node_changed("DELETE", {"metadata": {"name": "a"}, "spec": {"podCIDR": "x"}})
    assert g.pod_cidrs == {"b": "10.244.2.0/24"}
