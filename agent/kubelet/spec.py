"""A Kubernetes container spec turned into Docker create arguments.

Pure translation (no I/O) so it is tested table-driven: resources become CFS quota,
memory limit and CPU shares as kubelet's cgroup math does; securityContext becomes
user, read-only rootfs, privileged, capabilities, no-new-privileges
(allowPrivilegeEscalation: false), an Unconfined seccomp profile (RuntimeDefault is
Docker's default); the container joins its pod's sandbox for network, IPC (and so also
sees the sandbox's hostname and /etc/hosts), or the host's PID and IPC namespaces for
hostPID/hostIPC. runAsNonRoot is checked against the image's user before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.kubelet.env import expand
from minikube_py.api.quantity import cpu_millis, to_bytes

CPU_PERIOD_US = 100_000
MIN_SHARES = 2


@dataclass
class CreateArgs:
    """Everything `DockerRuntime.create` needs for one container."""

    image: str
    name: str
    labels: dict[str, str]
    host_config: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)


def resources(container: dict[str, Any]) -> dict[str, Any]:
    """limits.cpu -> CFS quota/period, limits.memory -> memory (no swap), requests.cpu -> shares."""
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    out: dict[str, Any] = {}
    if "cpu" in limits:
        out["cpu_period"] = CPU_PERIOD_US
        out["cpu_quota"] = max(cpu_millis(limits["cpu"]) * CPU_PERIOD_US // 1000, 1000)
    if "memory" in limits:
        out["mem_limit"] = to_bytes(limits["memory"])
        out["memswap_limit"] = out["mem_limit"]
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        out["cpu_shares"] = max(cpu_millis(cpu_request) * 1024 // 1000, MIN_SHARES)
    return out


def security(pod: dict[str, Any], container: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """host_config entries and the `user` string from pod + container securityContext."""
    psc = pod["spec"].get("securityContext") or {}
    sc = container.get("securityContext") or {}
    host: dict[str, Any] = {}
    uid = sc.get("runAsUser", psc.get("runAsUser"))
    gid = sc.get("runAsGroup", psc.get("runAsGroup"))
    user = None
    if uid is not None:
        user = f"{uid}:{gid}" if gid is not None else str(uid)
    elif gid is not None:
        user = f"0:{gid}"
    if psc.get("supplementalGroups"):
        host["group_add"] = [str(g) for g in psc["supplementalGroups"]]
    if psc.get("fsGroup") is not None:
        host.setdefault("group_add", []).append(str(psc["fsGroup"]))
    if sc.get("readOnlyRootFilesystem"):
        host["read_only"] = True
    if sc.get("privileged"):
        host["privileged"] = True
    if sc.get("allowPrivilegeEscalation") is False and not sc.get("privileged"):
        host.setdefault("security_opt", []).append("no-new-privileges:true")
    profile = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if profile == "Unconfined":  # privileged is unconfined by Docker already
        host.setdefault("security_opt", []).append("seccomp=unconfined")
    caps = sc.get("capabilities") or {}
    if caps.get("add"):
        host["cap_add"] = [c.upper().removeprefix("CAP_") for c in caps["add"]]
    if caps.get("drop"):
        host["cap_drop"] = [c.upper().removeprefix("CAP_") for c in caps["drop"]]
    return host, user


def container_args(pod: dict[str, Any], container: dict[str, Any], *, image: str, name: str,
                   labels: dict[str, str], sandbox_id: str, env: dict[str, str],
                   binds: list[str]) -> CreateArgs:
    """Docker create arguments for one init or app container of a pod."""
    host: dict[str, Any] = {
        "network_mode": f"container:{sandbox_id}",
        "ipc_mode": f"container:{sandbox_id}",
        "binds": binds,
        "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}},
        **resources(container),
    }
    sec_host, user = security(pod, container)
    host.update(sec_host)
    if pod["spec"].get("shareProcessNamespace"):
        host["pid_mode"] = f"container:{sandbox_id}"
    if pod["spec"].get("hostPID"):
        host["pid_mode"] = "host"
    if pod["spec"].get("hostIPC"):
        host["ipc_mode"] = "host"
    config: dict[str, Any] = {
        "environment": [f"{k}={v}" for k, v in env.items()],
        "stdin_open": bool(container.get("stdin")),
        "stdin_once": bool(container.get("stdinOnce")),
        "tty": bool(container.get("tty")),
    }
    if container.get("command"):
        config["entrypoint"] = [expand(c, env) for c in container["command"]]
    if container.get("args"):
        config["command"] = [expand(a, env) for a in container["args"]]
    elif container.get("command"):
        config["command"] = []  # command without args: the image's CMD must not be appended
    if container.get("workingDir"):
        config["working_dir"] = container["workingDir"]
    if user:
        config["user"] = user
    return CreateArgs(image=image, name=name, labels=labels, host_config=host, config=config)


def sandbox_args(pod: dict[str, Any], *, image: str, name: str, labels: dict[str, str],
                 command: list[str]) -> CreateArgs:
    """The pod's sandbox: no Docker networking (CNI wires it), the pod's hostname."""
    spec = pod["spec"]
    hostname = spec.get("hostname") or pod["metadata"]["name"]
    host: dict[str, Any] = {"network_mode": "none", "ipc_mode": "shareable",
                            "cpu_shares": MIN_SHARES}
    if spec.get("hostNetwork"):
        host["network_mode"] = "host"
    config: dict[str, Any] = {"command": command, "stop_signal": "SIGTERM"}
    if not spec.get("hostNetwork"):
        config["hostname"] = hostname[:63]
        if spec.get("subdomain"):
            config["domainname"] = f"{spec['subdomain']}.{pod['metadata']['namespace']}.svc"
    return CreateArgs(image=image, name=name, labels=labels, host_config=host, config=config)


def run_as_non_root_problem(pod: dict[str, Any], container: dict[str, Any],
                            image_user: str) -> str | None:
    """Kubernetes' verifyRunAsNonRoot: why this container may not start, if runAsNonRoot
    asks for a non-root user and it (its runAsUser, else its image's USER) would be root."""
    psc = pod["spec"].get("securityContext") or {}
    sc = container.get("securityContext") or {}
    if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
        return None
    meta = pod["metadata"]
    where = f'(pod: "{meta["name"]}_{meta["namespace"]}({meta["uid"]})", ' \
            f'container: {container["name"]})'
    uid = sc.get("runAsUser", psc.get("runAsUser"))
    if uid is not None:
        return f"container's runAsUser breaks non-root policy {where}" if uid == 0 else None
    user = image_user.partition(":")[0]
    if not user or user in ("0", "root"):
        return f"container has runAsNonRoot and image will run as root {where}"
    if not user.isdigit():
        return (f"container has runAsNonRoot and image has non-numeric user ({user}), "
                f"cannot verify user is non-root {where}")
    return None
