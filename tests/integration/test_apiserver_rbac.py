"""RBAC against a real api-server with the real kubectl: the default policy, a service
account's token, roles and bindings made with `kubectl create`, escalation refused,
access reviews, impersonation, aggregation by the real controller, and the bootstrap
policy restored on restart."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube_py.client import ApiClient
from minikube_py.controllers.clusterroleaggregation import ClusterRoleAggregationController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.apiserver import ApiServer, as_user
from tests.helpers import eventually

RBAC = "/apis/rbac.authorization.k8s.io/v1"
AUTHZ = "/apis/authorization.k8s.io/v1"


def _namespace(server: ApiServer) -> str:
    name = f"rbac-{uuid.uuid4().hex[:6]}"
    assert server.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    return name


def _account_token(server: ApiServer, namespace: str, name: str = "default") -> str:
    server.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                   {"metadata": {"name": name}})
    status, got = server.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201, got
    return str(got["status"]["token"])


def _until(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    """Policy reaches each api-server's index by watch: a moment after the write."""
    return asyncio.run(eventually(check, timeout, 0.1, what))


def test_a_pods_token_reads_no_secrets_and_creates_no_pods(apiserver: ApiServer,
                                                            tmp_path: Path) -> None:
    ns = _namespace(apiserver)
    token = _account_token(apiserver, ns)
    status, body = as_user(apiserver, token, "GET", "/api/v1/secrets")
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (f'secrets is forbidden: User "system:serviceaccount:{ns}:default"'
                               ' cannot list resource "secrets" in API group "" at the cluster '
                               'scope')
    privileged = {"metadata": {"name": "root"}, "spec": {
        "hostPID": True, "containers": [{"name": "c", "image": "busybox",
                                         "securityContext": {"privileged": True}}]}}
    assert as_user(apiserver, token, "POST", "/api/v1/namespaces/kube-system/pods",
                   privileged)[0] == 403
    assert as_user(apiserver, token, "GET", "/apis")[0] == 200  # discovery stays open
    assert as_user(apiserver, token, "GET", "/metrics")[0] == 403


def test_can_i_list_of_a_default_account_is_discovery_only(apiserver: ApiServer,
                                                           tmp_path: Path) -> None:
    got = apiserver.kubectl(tmp_path, "auth", "can-i", "--list",
                            "--as=system:serviceaccount:default:default")
    assert got.returncode == 0, got.stderr
    rows = [line.split() for line in got.stdout.splitlines()[1:]]
    resources = {row[0] for row in rows if not row[0].startswith("[")}
    assert resources == {"selfsubjectreviews.authentication.k8s.io",
                         "selfsubjectaccessreviews.authorization.k8s.io",
                         "selfsubjectrulesreviews.authorization.k8s.io"}
    urls = {row[0] for row in rows if row[0].startswith("[")}
    assert {"[/api]", "[/apis/*]", "[/healthz]", "[/version]"} <= urls


def test_kubectl_create_role_and_binding_grant_exactly_that(apiserver: ApiServer,
                                                             tmp_path: Path) -> None:
    ns = _namespace(apiserver)
    token = _account_token(apiserver, ns, "robot")
    for args in (["create", "role", "pod-reader", "--verb=get,list", "--resource=pods"],
                 ["create", "rolebinding", "read-pods", "--role=pod-reader",
                  f"--serviceaccount={ns}:robot", "--user=jane"]):
        got = apiserver.kubectl(tmp_path, "-n", ns, *args)
        assert got.returncode == 0, got.stderr
    pods = f"/api/v1/namespaces/{ns}/pods"
    _until(lambda: as_user(apiserver, token, "GET", pods)[0] == 200, "the binding to apply")
    assert as_user(apiserver, token, "GET", f"/api/v1/namespaces/{ns}/secrets")[0] == 403
    assert as_user(apiserver, token, "GET", "/api/v1/namespaces/default/pods")[0] == 403
    assert as_user(apiserver, token, "DELETE", f"{pods}/x")[0] == 403

    wide = apiserver.kubectl(tmp_path, "-n", ns, "get", "rolebindings", "-o", "wide")
    assert wide.stdout.split("\n")[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS",
                                                  "SERVICEACCOUNTS"]
    assert wide.stdout.split("\n")[1].split()[:2] == ["read-pods", "Role/pod-reader"]
    assert f"{ns}/robot" in wide.stdout
    described = apiserver.kubectl(tmp_path, "-n", ns, "describe", "role", "pod-reader")
    assert "PolicyRule:" in described.stdout and "[get list]" in described.stdout
    described = apiserver.kubectl(tmp_path, "-n", ns, "describe", "rolebinding", "read-pods")
    assert "ServiceAccount  robot" in described.stdout, described.stdout
    assert apiserver.kubectl(tmp_path, "-n", ns, "auth", "can-i", "list", "pods",
                             "--as=jane").stdout.strip() == "yes"
    listed = apiserver.kubectl(tmp_path, "-n", ns, "auth", "can-i", "--list", token=token)
    assert any(line.split()[0] == "pods" and "[get list]" in line
               for line in listed.stdout.splitlines()), listed.stdout


def test_escalation_is_refused_unless_escalate_or_bind(apiserver: ApiServer,
                                                       tmp_path: Path) -> None:
    ns = _namespace(apiserver)
    token = _account_token(apiserver, ns, "manager")
    for args in (["create", "role", "rbac-writer", "--verb=create,update,get",
                  "--resource=roles,rolebindings"],
                 ["create", "role", "pod-reader", "--verb=get", "--resource=pods"],
                 ["create", "rolebinding", "manager", "--role=rbac-writer",
                  f"--serviceaccount={ns}:manager"]):
        assert apiserver.kubectl(tmp_path, "-n", ns, *args).returncode == 0
    roles = f"{RBAC}/namespaces/{ns}/roles"
    secrets_reader = {"metadata": {"name": "secrets"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
    _until(lambda: as_user(apiserver, token, "GET", f"{roles}/pod-reader")[0] == 200,
           "the manager's binding")
    status, body = as_user(apiserver, token, "POST", roles, secrets_reader)
    assert status == 403, body
    assert "is attempting to grant RBAC permissions not currently held:\n" \
           '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}' in body["message"]
    got = apiserver.kubectl(tmp_path, "-n", ns, "create", "rolebinding", "admin-me",
                            "--clusterrole=cluster-admin", f"--serviceaccount={ns}:manager",
                            token=token)
    assert got.returncode != 0 and "not currently held" in got.stderr
    # What it holds it may hand on: its own rules, in a role and in a binding.
    own = {"metadata": {"name": "own"}, "rules": [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
         "verbs": ["get"]}]}
    assert as_user(apiserver, token, "POST", roles, own)[0] == 201
    # escalate and bind lift the limit, as in Kubernetes.
    assert apiserver.kubectl(tmp_path, "-n", ns, "create", "role", "lift",
                             "--verb=escalate,bind", "--resource=roles",
                             "--resource=clusterroles").returncode == 0
    assert apiserver.kubectl(tmp_path, "-n", ns, "create", "rolebinding", "lift",
                             "--role=lift", f"--serviceaccount={ns}:manager").returncode == 0
    _until(lambda: as_user(apiserver, token, "POST", roles, secrets_reader)[0] == 201,
           "escalate to apply")
    got = apiserver.kubectl(tmp_path, "-n", ns, "create", "rolebinding", "admin-me",
                            "--clusterrole=cluster-admin", f"--serviceaccount={ns}:manager",
                            token=token)
    assert got.returncode == 0, got.stderr


def test_access_reviews(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    binding = {"metadata": {"name": "view"}, "subjects": [
        {"kind": "User", "name": "ann", "apiGroup": "rbac.authorization.k8s.io"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:aggregate-to-view"}}
    assert apiserver.request("POST", f"{RBAC}/namespaces/{ns}/rolebindings", binding)[0] == 201

    def review(path: str, spec: dict[str, Any], token: str | None = None) -> Any:
        body = {"apiVersion": "authorization.k8s.io/v1", "spec": spec}
        if token is None:
            return apiserver.request("POST", path, body)
        return as_user(apiserver, token, "POST", path, body)

    pods = {"verb": "list", "resource": "pods", "namespace": ns}
    status, got = _until(lambda: (r := review(f"{AUTHZ}/subjectaccessreviews", {
        "user": "ann", "resourceAttributes": pods}))[1]["status"]["allowed"] and r,
        "ann's binding")
    assert status == 201 and got["kind"] == "SubjectAccessReview"
    status, got = review(f"{AUTHZ}/subjectaccessreviews", {
        "user": "ann", "resourceAttributes": {**pods, "namespace": "default"}})
    assert got["status"]["allowed"] is False
    status, got = review(f"{AUTHZ}/subjectaccessreviews", {
        "user": "bob", "groups": ["system:masters"], "resourceAttributes": pods})
    assert got["status"]["allowed"] is True
    status, got = review(f"{AUTHZ}/subjectaccessreviews", {
        "user": "ann", "nonResourceAttributes": {"verb": "get", "path": "/metrics"}})
    assert got["status"]["allowed"] is False
    status, got = review(f"{AUTHZ}/namespaces/{ns}/localsubjectaccessreviews",
                         {"user": "ann", "resourceAttributes": pods})
    assert status == 201 and got["status"]["allowed"] is True
    status, got = review(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews",
                         {"user": "ann", "resourceAttributes": pods})
    assert status == 400
    status, got = review(f"{AUTHZ}/subjectaccessreviews", {"resourceAttributes": pods})
    assert status == 422 and got["details"]["causes"][0]["field"] == "spec.user"
    # Asking about others needs create on subjectaccessreviews.
    token = _account_token(apiserver, ns)
    status, _ = review(f"{AUTHZ}/subjectaccessreviews",
                       {"user": "ann", "resourceAttributes": pods}, token)
    assert status == 403


def test_impersonation_needs_the_impersonate_verb(apiserver: ApiServer,
                                                  tmp_path: Path) -> None:
    ns = _namespace(apiserver)
    token = _account_token(apiserver, ns)
    got = apiserver.kubectl(tmp_path, "get", "secrets", "-A", "--as=admin",
                            "--as-group=system:masters", token=token)
    assert got.returncode != 0 and "Forbidden" in got.stderr  # discovery is refused already
    who = apiserver.kubectl(tmp_path, "auth", "whoami", "-o", "json",
                            f"--as=system:serviceaccount:{ns}:default")
    info = yaml.safe_load(who.stdout)["status"]["userInfo"]
    assert info["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                              "system:authenticated"]


async def test_aggregation_controller_fills_view_edit_admin(apiserver: ApiServer) -> None:
    label = "rbac.authorization.k8s.io/aggregate-to-view"
    extra: dict[str, Any] = {
        "metadata": {"name": f"widgets-{uuid.uuid4().hex[:5]}", "labels": {label: "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}]}
    assert apiserver.request("POST", f"{RBAC}/clusterroles", extra)[0] == 201
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        controller = ClusterRoleAggregationController(client, ControllerManagerSettings())
        task = asyncio.create_task(controller.run())

        def aggregated(role: str) -> bool:
            return extra["rules"][0] in apiserver.request(
                "GET", f"{RBAC}/clusterroles/{role}")[1]["rules"]
        try:
            for role in ("view", "edit", "admin"):  # admin gathers edit, which gathers view
                await eventually(functools.partial(aggregated, role), 20, 0.2,
                                 f"{role} to aggregate the new role")
            view = apiserver.request("GET", f"{RBAC}/clusterroles/view")[1]["rules"]
            assert {"apiGroups": [""], "resources": ["namespaces"],
                    "verbs": ["get", "list", "watch"]} in view
            assert not any("secrets" in r.get("resources", []) for r in view)
            apiserver.request("DELETE", f"{RBAC}/clusterroles/{extra['metadata']['name']}")
            await eventually(lambda: extra["rules"][0] not in apiserver.request(
                "GET", f"{RBAC}/clusterroles/view")[1]["rules"], 20, 0.2, "view to shrink")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_bootstrap_policy_is_restored_never_overwritten(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory()
    path = f"{RBAC}/clusterroles/system:basic-user"
    role = server.request("GET", path)[1]
    mine = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    role["rules"] = [mine]  # lost the default rules, gained one of ours
    assert server.request("PUT", path, role)[0] == 200
    assert server.request("DELETE", f"{RBAC}/clusterrolebindings/system:discovery")[0] == 200
    frozen = server.request("GET", f"{RBAC}/clusterroles/system:public-info-viewer")[1]
    frozen["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false"
    frozen["rules"] = []
    assert server.request("PUT", f"{RBAC}/clusterroles/system:public-info-viewer",
                          frozen)[0] == 200
    server.stop()
    server.start()
    rules = server.request("GET", path)[1]["rules"]
    assert rules[0] == mine and any("selfsubjectaccessreviews" in r["resources"]
                                    for r in rules[1:])
    assert server.request("GET", f"{RBAC}/clusterrolebindings/system:discovery")[0] == 200
    assert server.request("GET", f"{RBAC}/clusterroles/system:public-info-viewer"
                          )[1]["rules"] == []


@pytest.mark.parametrize("bad,field", [
    ({"rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}]}, "rules[0].verbs"),
    ({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]}, "rules[0].nonResourceURLs"),
])
def test_invalid_roles_are_422_naming_the_field(apiserver: ApiServer, bad: dict[str, Any],
                                                field: str) -> None:
    status, got = apiserver.request("POST", f"{RBAC}/namespaces/default/roles",
                                    {"metadata": {"name": f"bad-{time.monotonic_ns()}"}, **bad})
    assert status == 422 and got["details"]["causes"][0]["field"] == field


SA = "system:serviceaccount:kube-system:"
SA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:kube-system",
             "system:authenticated"]


@pytest.mark.parametrize("user,verb,resource,namespace,name,allowed", [
    ("system:kube-scheduler", "create", "pods/binding", "default", "p", True),
    ("system:kube-scheduler", "get", "secrets", "default", "s", False),
    ("system:kube-controller-manager", "watch", "secrets", "", "", True),
    ("system:kube-controller-manager", "create", "pods", "default", "", False),
    (SA + "replicaset-controller", "create", "pods", "default", "", True),
    (SA + "replicaset-controller", "get", "secrets", "default", "s", False),
    (SA + "node-controller", "patch", "nodes", "", "n1", True),
    (SA + "namespace-controller", "deletecollection", "secrets", "ns1", "", True),
    (SA + "kube-dns", "watch", "discovery.k8s.io/endpointslices", "", "", True),
    (SA + "kube-dns", "update", "endpoints", "kube-system", "kube-dns", True),
    (SA + "kube-dns", "update", "endpoints", "kube-system", "other", False),
    (SA + "kube-dns", "update", "endpoints", "default", "kube-dns", False),
    (SA + "kube-dns", "list", "pods", "", "", False),
    ("system:kube-proxy", "watch", "services", "", "", True),
    ("system:kube-proxy", "get", "secrets", "default", "s", False),
])
def test_components_hold_kubernetes_bootstrap_roles(apiserver: ApiServer, user: str, verb: str,
                                                    resource: str, namespace: str, name: str,
                                                    allowed: bool) -> None:
    group, _, plural = resource.rpartition("/") if resource.startswith("discovery") \
        else ("", "", resource)
    plural, _, sub = plural.partition("/")
    status, got = apiserver.request("POST", f"{AUTHZ}/subjectaccessreviews", {
        "spec": {"user": user, "groups": SA_GROUPS if user.startswith(SA) else
                 ["system:authenticated"],
                 "resourceAttributes": {"verb": verb, "group": group, "resource": plural,
                                        "subresource": sub, "namespace": namespace,
                                        "name": name}}})
    assert status == 201 and got["status"]["allowed"] is allowed, got


def test_kubectl_auth_reconcile_adds_what_is_missing(apiserver: ApiServer,
                                                     tmp_path: Path) -> None:
    ns = _namespace(apiserver)
    manifest = tmp_path / "policy.yaml"
    manifest.write_text(yaml.safe_dump_all([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "cm", "namespace": ns},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "cm", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
         "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}]},
    ]))
    got = apiserver.kubectl(tmp_path, "auth", "reconcile", "-f", str(manifest))
    assert got.returncode == 0, got.stderr
    assert "role.rbac.authorization.k8s.io/cm reconciled" in got.stdout
    role = apiserver.request("GET", f"{RBAC}/namespaces/{ns}/roles/cm")[1]
    role["rules"] = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    assert apiserver.request("PUT", f"{RBAC}/namespaces/{ns}/roles/cm", role)[0] == 200
    got = apiserver.kubectl(tmp_path, "auth", "reconcile", "-f", str(manifest))
    assert got.returncode == 0, got.stderr
    rules = apiserver.request("GET", f"{RBAC}/namespaces/{ns}/roles/cm")[1]["rules"]
    assert [r["resources"] for r in rules] == [["secrets"], ["configmaps"]]
    _until(lambda: apiserver.kubectl(tmp_path, "-n", ns, "auth", "can-i", "get", "configmaps",
                                     "--as=jane").stdout.strip() == "yes", "jane's binding")


def test_a_websocket_exec_needs_create_not_only_get(apiserver: ApiServer) -> None:
    """A WebSocket exec, attach or port-forward is a GET: with `get` alone a "read-only"
    role on pods/* would run commands in the pods. As Kubernetes 1.35
    (AuthorizePodWebsocketUpgradeCreatePermission), `create` is asked too."""
    ns = _namespace(apiserver)
    token = _account_token(apiserver, ns, "reader")
    rule: dict[str, list[str]] = {
        "apiGroups": [""], "resources": ["pods", "pods/exec", "pods/attach", "pods/portforward"],
        "verbs": ["get"]}
    role = {"metadata": {"name": "reader"}, "rules": [rule]}
    for path, body in ((f"{RBAC}/namespaces/{ns}/roles", role),
                       (f"{RBAC}/namespaces/{ns}/rolebindings", {
                           "metadata": {"name": "reader"},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                       "name": "reader"},
                           "subjects": [{"kind": "ServiceAccount", "name": "reader",
                                         "namespace": ns}]})):
        assert apiserver.request("POST", path, body)[0] == 201
    pods = f"/api/v1/namespaces/{ns}/pods"
    _until(lambda: as_user(apiserver, token, "GET", f"{pods}/x")[0] == 404, "the binding")
    for sub in ("exec?command=id", "attach", "portforward?ports=80"):
        status, body = as_user(apiserver, token, "GET", f"{pods}/x/{sub}")
        assert (status, body["message"]) == (403, (
            f'pods "x" is forbidden: User "system:serviceaccount:{ns}:reader" cannot create '
            f'resource "pods/{sub.split("?")[0]}" in API group "" in the namespace "{ns}"'))
    rule["verbs"] = ["get", "create"]
    assert apiserver.request("PUT", f"{RBAC}/namespaces/{ns}/roles/reader", role)[0] == 200
    _until(lambda: as_user(apiserver, token, "GET", f"{pods}/x/exec?command=id")[0] == 400,
           "create to apply (past authorization: no upgrade asked for)")
