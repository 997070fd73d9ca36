"""Container spec -> Docker create arguments, and the environment Kubernetes computes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from agent.kubelet.env import container_env, expand, field_value, sub_path
from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.source import DictSource
from agent.kubelet.spec import container_args, resources, sandbox_args, security
from minikube_py.api.resources import CONFIGMAPS, SECRETS, SERVICES
from tests.fixtures import builders


def pod(**spec: Any) -> dict[str, Any]:
    return builders.pod("web", "ns", node="n1", containers=[], uid="u1",
                        labels={"b": "2", "a": "1"}, spec=spec)


@pytest.mark.parametrize("res, expected", [
    pytest.param({}, {}, id="nothing"),
    pytest.param({"limits": {"cpu": "500m"}},
                 {"cpu_period": 100_000, "cpu_quota": 50_000, "cpu_shares": 512},
                 id="limit-implies-request"),
    pytest.param({"limits": {"cpu": "2", "memory": "16Mi"}, "requests": {"cpu": "100m"}},
                 {"cpu_period": 100_000, "cpu_quota": 200_000, "cpu_shares": 102,
                  "mem_limit": 16 * 2**20, "memswap_limit": 16 * 2**20}, id="full"),
    pytest.param({"requests": {"cpu": "1m"}}, {"cpu_shares": 2}, id="min-shares"),
])
def test_resources(res: dict[str, Any], expected: dict[str, Any]) -> None:
    assert resources({"resources": res}) == expected


def test_security_context_container_wins_over_pod() -> None:
    p = pod(securityContext={"runAsUser": 1, "runAsGroup": 2, "fsGroup": 3})
    host, user = security(p, {"securityContext": {
        "runAsUser": 1000, "readOnlyRootFilesystem": True, "privileged": True,
        "capabilities": {"add": ["CAP_NET_ADMIN"], "drop": ["all"]}}})
    assert user == "1000:2"
    assert host == {"group_add": ["3"], "read_only": True, "privileged": True,
                    "cap_add": ["NET_ADMIN"], "cap_drop": ["ALL"]}


def test_container_joins_the_sandbox_and_expands_command() -> None:
    args = container_args(pod(), {"name": "c", "command": ["echo", "$(A)"], "workingDir": "/w"},
                          image="img", name="k8s_c", labels={"l": "v"}, sandbox_id="sb",
                          env={"A": "x"}, binds=["/h:/c:rw"])
    assert args.host_config["network_mode"] == "container:sb"
    assert args.host_config["ipc_mode"] == "container:sb"
    assert args.config["entrypoint"] == ["echo", "x"] and args.config["command"] == []
    assert args.config["environment"] == ["A=x"] and args.config["working_dir"] == "/w"


def test_sandbox_has_the_pod_hostname_and_no_docker_network() -> None:
    args = sandbox_args(pod(), image="pause", name="s", labels={}, command=["sleep"])
    assert args.host_config["network_mode"] == "none" and args.config["hostname"] == "web"


@pytest.mark.parametrize("text, expected", [
    ("$(A)-$(B)", "1-$(B)"), ("$$(A)", "$(A)"), ("plain", "plain"), ("$(A)$(A)", "11"),
])
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1"}) == expected


@pytest.mark.parametrize("mount, expected", [
    ({"subPath": "a/b"}, "a/b"), ({}, ""), ({"subPathExpr": "logs/$(POD)"}, "logs/web-1"),
    ({"subPathExpr": "$$(POD)"}, "$(POD)"),
    ({"subPathExpr": "$(NOPE)/$(EMPTY)"}, "missing value for EMPTY, NOPE"),
    ({"subPathExpr": "$(UP)/x"}, "unable to provision SubPath `../x`: must not contain '..'"),
    ({"subPathExpr": "$(ROOT)etc"}, "error SubPath `/etc` must not be an absolute path"),
])
def test_sub_path_expressions_expand_from_the_container_env(mount: dict[str, str],
                                                             expected: str) -> None:
    env = {"POD": "web-1", "EMPTY": "", "UP": "..", "ROOT": "/"}
    if "must" in expected or "missing" in expected:
        with pytest.raises(ContainerConfigError) as e:
            sub_path(mount, env)
        assert str(e.value) == expected
    else:
        assert sub_path(mount, env) == expected


def test_field_values() -> None:
    p = pod()
    assert field_value(p, "metadata.labels", pod_ip="", host_ip="") == 'a="1"\nb="2"'
    assert field_value(p, "metadata.labels['b']", pod_ip="", host_ip="") == "2"
    assert field_value(p, "status.podIP", pod_ip="10.0.0.1", host_ip="") == "10.0.0.1"
    with pytest.raises(ContainerConfigError, match="unsupported fieldRef"):
        field_value(p, "spec.nope", pod_ip="", host_ip="")


async def test_env_order_and_sources() -> None:
    source = DictSource([
        (CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "ns"}, "data": {"K": "cm"}}),
        (SECRETS, {"metadata": {"name": "s", "namespace": "ns"},
                   "data": {"pw": base64.b64encode(b"x").decode()}}),
    ])
    env = await container_env(pod(), {
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "env": [{"name": "K", "value": "override-$(K)"},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "none", "key": "k",
                                                                  "optional": True}}},
                {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    }, source, pod_ip="", host_ip="")
    assert env == {"K": "override-cm", "PW": "x", "N": "n1"}


@pytest.mark.parametrize("env, message", [
    pytest.param([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}],
                 'configmap "gone" not found', id="missing-configmap"),
    pytest.param([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "no"}}}],
                 "couldn't find key no", id="missing-key"),
])
async def test_env_errors_are_config_errors(env: list[dict[str, Any]], message: str) -> None:
    source = DictSource([(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "ns"},
                                       "data": {"k": "v"}})])
    with pytest.raises(ContainerConfigError, match=message):
        await container_env(pod(), {"env": env}, source, pod_ip="", host_ip="")


async def test_service_variables_include_the_api_server_everywhere() -> None:
    kubernetes = {"metadata": {"name": "kubernetes", "namespace": "default"},
                  "spec": {"clusterIP": "10.96.0.1",
                           "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}
    web = {"metadata": {"name": "my-web", "namespace": "ns"},
           "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 80}]}}
    headless = {"metadata": {"name": "hl", "namespace": "ns"},
                "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
    source = DictSource([(SERVICES, kubernetes), (SERVICES, web), (SERVICES, headless)])
    env = await container_env(pod(), {"env": [{"name": "MY_WEB_SERVICE_PORT", "value": "x"}]},
                              source, pod_ip="", host_ip="")
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT_443_TCP"] == "tcp://10.96.0.1:443"
    assert env["MY_WEB_SERVICE_HOST"] == "10.96.0.9" and env["MY_WEB_SERVICE_PORT"] == "x"
    assert not any(k.startswith("HL_") for k in env)
    env = await container_env(pod(enableServiceLinks=False), {}, source, pod_ip="", host_ip="")
    assert "KUBERNETES_SERVICE_HOST" in env and "MY_WEB_SERVICE_HOST" not in env
