"""Admission webhooks against a real api-server and a real webhook process over TLS with
the test's own CA (tests/fixtures/admission_webhook.py): a mutating webhook's JSONPatch is
in the stored object, a validating one refuses with its message, failurePolicy Fail and
Ignore on a dead endpoint and on a timeout, namespaceSelector, a Service client resolved
to its endpoints, reinvocation, the AdmissionReview kube-apiserver would send, and the
configuration kinds through kubectl.

Every configuration selects only objects labelled with the test's own `run` id, so tests
never reach each other's webhooks, and is deleted when its test ends.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.fixtures.admission_webhook import WebhookServer, webhook_server  # noqa: F401
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import free_port

GROUP = "/apis/admissionregistration.k8s.io/v1"
MUTATING = f"{GROUP}/mutatingwebhookconfigurations"
VALIDATING = f"{GROUP}/validatingwebhookconfigurations"
CONFIGMAP_RULE = {"operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": [""],
                  "apiVersions": ["v1"], "resources": ["configmaps"]}


def _until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last or time.monotonic() > deadline:
            assert last, "timed out"
            return last
        time.sleep(0.05)


def _namespace(server: ApiServer, **labels: str) -> str:
    name = f"wh-{uuid.uuid4().hex[:6]}"
    assert server.request("POST", "/api/v1/namespaces",
                          {"metadata": {"name": name, "labels": labels}})[0] == 201
    return name


def _hook(name: str, run: str, client: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "rules": [CONFIGMAP_RULE], "clientConfig": client,
            "objectSelector": {"matchLabels": {"run": run}}, **extra}


@contextlib.contextmanager
def _configured(server: ApiServer, collection: str, *hooks: dict[str, Any]
                ) -> Iterator[dict[str, Any]]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    status, body = server.request("POST", collection, {"metadata": {"name": name},
                                                       "webhooks": list(hooks)})
    assert status == 201, body
    try:
        yield body
    finally:
        server.request("DELETE", f"{collection}/{name}")


def _configmap(name: str, run: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"run": run, **labels}}, "data": {"k": "v"}}


def _active(server: ApiServer, ns: str, run: str, seen: Callable[[int, Any, str], bool]
            ) -> None:
    """Wait until the configuration reaches writes: dry-run probes (nothing is stored)
    until `seen(status, body, probe name)` says a webhook took part."""
    def probe() -> bool:
        name = f"probe-{uuid.uuid4().hex[:6]}"
        status, body = server.request("POST", f"/api/v1/namespaces/{ns}/configmaps"
                                      "?dryRun=All", _configmap(name, run))
        return seen(status, body, name)
    _until(probe)


def _sent(hooks: WebhookServer, path: str, ns: str, name: str) -> list[dict[str, Any]]:
    """The AdmissionReview requests `path` received about one object."""
    return [r["review"]["request"] for r in hooks.reviews(path)
            if r["review"]["request"].get("namespace") == ns
            and r["review"]["request"].get("name") == name]


def _reached(hooks: WebhookServer, path: str) -> Callable[[int, Any, str], bool]:
    return lambda _s, _b, name: any(r["review"]["request"].get("name") == name
                                    for r in hooks.reviews(path))


def test_mutating_webhook_patch_is_stored_and_the_review_is_kubernetes_shaped(
        apiserver: ApiServer, webhook_server: WebhookServer) -> None:  # noqa: F811
    ns, run = _namespace(apiserver), uuid.uuid4().hex[:8]
    client = {"url": webhook_server.url("/mutate"), "caBundle": webhook_server.ca_bundle}
    with _configured(apiserver, MUTATING, _hook("mutate.webhook.test", run, client)):
        _active(apiserver, ns, run, _reached(webhook_server, "/mutate"))
        status, created = apiserver.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                            _configmap("cm", run))
        assert status == 201, created
        assert "webhook.test/mutated" in created["metadata"]["labels"]
        stored = apiserver.request("GET", f"/api/v1/namespaces/{ns}/configmaps/cm")[1]
        assert stored["metadata"]["labels"] == created["metadata"]["labels"]
        assert stored["metadata"]["uid"] and stored["metadata"]["resourceVersion"]

        sent = [r for r in webhook_server.reviews("/mutate")
                if r["review"]["request"].get("name") == "cm"
                and r["review"]["request"].get("namespace") == ns]
        assert len(sent) == 1 and sent[0]["query"] == {"timeout": "10s"}
        review = sent[0]["review"]
        assert (review["apiVersion"], review["kind"]) == ("admission.k8s.io/v1",
                                                          "AdmissionReview")
        request = review["request"]
        assert request["uid"]
        assert request["kind"] == request["requestKind"] == {"group": "", "version": "v1",
                                                             "kind": "ConfigMap"}
        assert request["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
        assert (request["namespace"], request["operation"]) == (ns, "CREATE")
        assert request["userInfo"]["username"] == "admin"
        assert "system:masters" in request["userInfo"]["groups"]
        assert request["object"]["data"] == {"k": "v"} and request["oldObject"] is None
        assert "uid" not in request["object"]["metadata"]  # given after admission
        assert request["dryRun"] is False
        assert request["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        probe = next(r["review"]["request"] for r in webhook_server.reviews("/mutate")
                     if r["review"]["request"].get("namespace") == ns
                     and r["review"]["request"].get("name", "").startswith("probe-"))
        assert probe["dryRun"] is True and probe["options"]["dryRun"] == ["All"]

        status, patched = apiserver.request(
            "PATCH", f"/api/v1/namespaces/{ns}/configmaps/cm", {"data": {"k": "w"}},
            content_type="application/merge-patch+json")
        assert status == 200, patched
        update = _sent(webhook_server, "/mutate", ns, "cm")[-1]
        assert update["operation"] == "UPDATE"
        assert update["oldObject"]["data"] == {"k": "v"} and update["object"]["data"] == \
            {"k": "w"}
        assert update["options"]["kind"] == "UpdateOptions"


def test_validating_webhook_refuses_with_its_status(apiserver: ApiServer,
                                                    webhook_server: WebhookServer  # noqa: F811
                                                    ) -> None:
    ns, run = _namespace(apiserver), uuid.uuid4().hex[:8]
    client = {"url": webhook_server.url("/validate"), "caBundle": webhook_server.ca_bundle}
    path = f"/api/v1/namespaces/{ns}/configmaps"
    assert apiserver.request("POST", path, _configmap("before", run, deny="true"))[0] == 201
    with _configured(apiserver, VALIDATING, _hook("deny.webhook.test", run, client)):
        _active(apiserver, ns, run, _reached(webhook_server, "/validate"))
        status, body = apiserver.request("DELETE", f"{path}/before")
        assert status == 403, body
        deleting = _sent(webhook_server, "/validate", ns, "before")
        assert deleting[0]["operation"] == "DELETE" and deleting[0]["object"] is None
        assert deleting[0]["oldObject"]["metadata"]["labels"]["deny"] == "true"
        assert deleting[0]["options"]["kind"] == "DeleteOptions"
        assert apiserver.request("GET", f"{path}/before")[0] == 200
        status, body = apiserver.request("POST", path, _configmap("bad", run, deny="true"))
        assert (status, body["reason"]) == (403, "Forbidden"), body
        assert body["message"] == ('admission webhook "deny.webhook.test" denied the request: '
                                   "deny label set")
        assert apiserver.request("GET", f"{path}/bad")[0] == 404
        assert apiserver.request("POST", path, _configmap("good", run))[0] == 201
        status, body = apiserver.request("PATCH", f"{path}/good",
                                         {"metadata": {"labels": {"deny": "true"}}},
                                         content_type="application/merge-patch+json")
        assert status == 403, body
        assert "deny" not in apiserver.request("GET", f"{path}/good")[1]["metadata"]["labels"]


def test_failure_policy_fail_refuses_and_ignore_admits(apiserver: ApiServer) -> None:
    ns, run = _namespace(apiserver), uuid.uuid4().hex[:8]
    dead = free_port()
    client = {"url": f"https://127.0.0.1:{dead}/validate"}
    path = f"/api/v1/namespaces/{ns}/configmaps"
    with _configured(apiserver, VALIDATING, _hook("fail.webhook.test", run, client)):
        _active(apiserver, ns, run, lambda status, _b, _n: status == 500)
        status, body = apiserver.request("POST", path, _configmap("a", run))
        assert (status, body["reason"]) == (500, "InternalError"), body
        message = ('failed calling webhook "fail.webhook.test": failed to call webhook: '
                   f'Post "https://127.0.0.1:{dead}/validate?timeout=10s": dial tcp '
                   f"127.0.0.1:{dead}: connect: connection refused")
        assert body["message"] == f"Internal error occurred: {message}"
        assert body["details"]["causes"] == [{"message": message}]
    with _configured(apiserver, VALIDATING, _hook("ignore.webhook.test", run, client,
                                                  failurePolicy="Ignore")):
        time.sleep(0.5)  # nothing observable distinguishes it from no webhook at all
        assert apiserver.request("POST", path, _configmap("b", run))[0] == 201


def test_timeout_fails_closed_in_time_and_ignore_admits(apiserver: ApiServer,
                                                        webhook_server: WebhookServer  # noqa: F811
                                                        ) -> None:
    ns, run = _namespace(apiserver), uuid.uuid4().hex[:8]
    client = {"url": webhook_server.url("/slow"), "caBundle": webhook_server.ca_bundle}
    path = f"/api/v1/namespaces/{ns}/configmaps"
    with _configured(apiserver, VALIDATING, _hook("slow.webhook.test", run, client,
                                                  timeoutSeconds=1)):
        _active(apiserver, ns, run, lambda status, _b, _n: status == 500)
        start = time.monotonic()
        status, body = apiserver.request("POST", path, _configmap("a", run))
        elapsed = time.monotonic() - start
        assert status == 500, body
        assert body["message"].endswith(f'Post "{webhook_server.url("/slow")}?timeout=1s": '
                                        "context deadline exceeded"), body
        assert 0.9 < elapsed < 2.5
    with _configured(apiserver, VALIDATING, _hook("slow.webhook.test", run, client,
                                                  timeoutSeconds=1, failurePolicy="Ignore")):
        _active(apiserver, ns, run, _reached(webhook_server, "/slow"))
        assert apiserver.request("POST", path, _configmap("b", run))[0] == 201


def test_namespace_selector_picks_the_namespaces(apiserver: ApiServer,
                                                 webhook_server: WebhookServer  # noqa: F811
                                                 ) -> None:
    run = uuid.uuid4().hex[:8]
    chosen, other = _namespace(apiserver, webhooks=run), _namespace(apiserver)
    client = {"url": webhook_server.url("/mutate"), "caBundle": webhook_server.ca_bundle}
    hook = _hook("mutate.webhook.test", run, client,
                 namespaceSelector={"matchExpressions": [
                     {"key": "webhooks", "operator": "In", "values": [run]}]})
    with _configured(apiserver, MUTATING, hook):
        _active(apiserver, chosen, run, _reached(webhook_server, "/mutate"))
        for ns, mutated in ((chosen, True), (other, False)):
            status, body = apiserver.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                             _configmap("cm", run))
            assert status == 201, body
            assert ("webhook.test/mutated" in body["metadata"]["labels"]) is mutated


def test_service_client_reaches_the_endpoints_with_the_service_name_verified(
        apiserver: ApiServer, webhook_server: WebhookServer) -> None:  # noqa: F811
    """The certificate names webhook.webhook-test.svc, the endpoint is 127.0.0.1."""
    svc_ns, run = "webhook-test", uuid.uuid4().hex[:8]
    apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": svc_ns}})
    apiserver.request("POST", f"/api/v1/namespaces/{svc_ns}/services", {
        "metadata": {"name": "webhook"}, "spec": {"ports": [
            {"name": "https", "port": 443, "targetPort": 8443}]}})
    apiserver.request("DELETE", f"/api/v1/namespaces/{svc_ns}/endpoints/webhook")
    assert apiserver.request("POST", f"/api/v1/namespaces/{svc_ns}/endpoints", {
        "metadata": {"name": "webhook"}, "subsets": [{
            "addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "https", "port": webhook_server.port}]}]})[0] == 201
    ns = _namespace(apiserver)
    client = {"service": {"namespace": svc_ns, "name": "webhook", "path": "/mutate"},
              "caBundle": webhook_server.ca_bundle}
    with _configured(apiserver, MUTATING, _hook("svc.webhook.test", run, client)) as config:
        assert config["webhooks"][0]["clientConfig"]["service"]["port"] == 443  # defaulted
        _active(apiserver, ns, run, _reached(webhook_server, "/mutate"))
        status, body = apiserver.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                         _configmap("cm", run))
        assert status == 201 and "webhook.test/mutated" in body["metadata"]["labels"], body
        seen = [r for r in webhook_server.reviews("/mutate")
                if r["review"]["request"].get("name") == "cm"
                and r["review"]["request"].get("namespace") == ns]
        assert seen[0]["host"] == "webhook.webhook-test.svc:443"


def test_reinvocation_if_needed_sees_a_later_webhooks_change(
        apiserver: ApiServer, webhook_server: WebhookServer) -> None:  # noqa: F811
    """Configurations run by name: 'a-...' (IfNeeded) before 'b-...' changes the object,
    so 'a-...' runs again and counts the later label."""
    ns, run = _namespace(apiserver), uuid.uuid4().hex[:8]
    ca = webhook_server.ca_bundle
    first = _hook("seen.webhook.test", run, {"url": webhook_server.url("/reinvoke"),
                                              "caBundle": ca}, reinvocationPolicy="IfNeeded")
    second = _hook("mutate.webhook.test", run, {"url": webhook_server.url("/mutate"),
                                                "caBundle": ca})
    names = [f"a-{run}", f"b-{run}"]
    for name, hook in zip(names, (first, second), strict=True):
        assert apiserver.request("POST", MUTATING, {"metadata": {"name": name},
                                                    "webhooks": [hook]})[0] == 201
    try:
        _active(apiserver, ns, run, _reached(webhook_server, "/mutate"))
        status, body = apiserver.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                         _configmap("cm", run))
        assert status == 201, body
        # run + seen(1st pass) + mutated, as the second pass counted them
        assert body["metadata"]["labels"]["webhook.test/seen"] == "3"
        assert len(_sent(webhook_server, "/reinvoke", ns, "cm")) == 2
    finally:
        for name in names:
            apiserver.request("DELETE", f"{MUTATING}/{name}")


def test_configurations_are_validated_with_kubernetes_field_paths(apiserver: ApiServer) -> None:
    bad = {"metadata": {"name": f"bad-{uuid.uuid4().hex[:6]}"}, "webhooks": [{
        "name": "short", "admissionReviewVersions": ["v1"], "timeoutSeconds": 31,
        "rules": [{"operations": ["CREATE", "*"], "apiGroups": [""], "apiVersions": ["v1"],
                   "resources": ["pods"], "scope": "Everywhere"}],
        "clientConfig": {"url": "http://example.com/x"}}]}
    status, body = apiserver.request("POST", VALIDATING, bad)
    assert (status, body["reason"]) == (422, "Invalid"), body
    causes = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert causes["webhooks[0].name"].endswith("should be a domain with at least three "
                                               "segments separated by dots")
    assert causes["webhooks[0].sideEffects"] == ("Required value: must specify one of None, "
                                                 "NoneOnDryRun")
    assert causes["webhooks[0].timeoutSeconds"] == ("Invalid value: 31: the timeout value must "
                                                    "be between 1 and 30 seconds")
    assert causes["webhooks[0].rules[0].scope"].startswith('Unsupported value: "Everywhere"')
    assert "if '*' is present" in causes["webhooks[0].rules[0].operations"]
    assert causes["webhooks[0].clientConfig.url"].endswith("'https' is the only allowed URL "
                                                           "scheme")


def test_kubectl_lists_configurations_and_prints_webhook_warnings(
        apiserver: ApiServer, webhook_server: WebhookServer, tmp_path: Path) -> None:  # noqa: F811
    ns, run = _namespace(apiserver), uuid.uuid4().hex[:8]
    client = {"url": webhook_server.url("/mutate"), "caBundle": webhook_server.ca_bundle}
    with _configured(apiserver, MUTATING, _hook("mutate.webhook.test", run, client)) as config:
        got = apiserver.kubectl(tmp_path, "get", "mutatingwebhookconfigurations",
                                config["metadata"]["name"])
        assert got.returncode == 0, got.stderr
        assert got.stdout.split("\n")[0].split() == ["NAME", "WEBHOOKS", "AGE"]
        assert got.stdout.split("\n")[1].split()[:2] == [config["metadata"]["name"], "1"]
        _active(apiserver, ns, run, _reached(webhook_server, "/mutate"))
        manifest = tmp_path / "cm.json"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                        **_configmap("cm", run)}))
        got = apiserver.kubectl(tmp_path, "-n", ns, "create", "-f", str(manifest))
        assert got.returncode == 0, got.stderr
        assert "Warning: mutated by the test webhook" in got.stderr
