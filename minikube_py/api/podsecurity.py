"""The Pod Security Standards' checks (k8s.io/pod-security-admission policy), pure: what
of a pod spec violates the baseline or the restricted level, in Kubernetes' wording, so
kubectl shows the same `violates PodSecurity "baseline:latest": ...` text.

Baseline: host namespaces, privileged containers, capabilities beyond the default set,
hostPath volumes, hostPorts, an Unconfined seccomp profile, an Unmasked /proc, unsafe
sysctls. Restricted adds: volume types other than the ephemeral and projected ones,
allowPrivilegeEscalation not false, runAsNonRoot not true, runAsUser 0, no RuntimeDefault
or Localhost seccomp profile, capabilities not dropping ALL or adding more than
NET_BIND_SERVICE. (Windows hostProcess, AppArmor and SELinux options are not modelled.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"})
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                "persistentVolumeClaim", "projected", "secret"})


def _containers(spec: Object) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers", "ephemeralContainers")
            for c in dicts(spec.get(key))]


def _names(kind: str, names: Iterable[Any]) -> str:
    listed = sorted({str(n) for n in names})
    quoted = ", ".join(f'"{n}"' for n in listed)
    return f'{kind}{"s" if len(listed) > 1 else ""} {quoted}'


def _containers_that(spec: Object, test: Callable[[dict[str, Any]], bool]) -> list[str]:
    return [str(c.get("name", "")) for c in _containers(spec) if test(c)]


def _sc(obj: dict[str, Any]) -> dict[str, Any]:
    return as_dict(obj.get("securityContext"))


def baseline(spec: Object) -> list[str]:
    out = []
    hosts = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    if hosts:
        out.append(f"host namespaces ({', '.join(hosts)})")
    privileged = _containers_that(spec, lambda c: _sc(c).get("privileged") is True)
    if privileged:
        out.append(f"privileged ({_names('container', privileged)} must not set "
                   "securityContext.privileged=true)")
    added: dict[str, set[str]] = {}
    for c in _containers(spec):
        extra = {str(a) for a in as_dict(_sc(c).get("capabilities")).get("add") or []
                 if str(a) not in BASELINE_CAPABILITIES}
        if extra:
            added[str(c.get("name", ""))] = extra
    if added:
        caps = ", ".join(f'"{a}"' for a in sorted(set().union(*added.values())))
        out.append(f"non-default capabilities ({_names('container', added)} must not include "
                   f"{caps} in securityContext.capabilities.add)")
    host_paths = [v.get("name") for v in dicts(spec.get("volumes")) if "hostPath" in v]
    if host_paths:
        out.append(f"hostPath volumes ({_names('volume', host_paths)})")
    ports = sorted({str(p.get("hostPort")) for c in _containers(spec)
                    for p in dicts(c.get("ports")) if p.get("hostPort")})
    if ports:
        users = _containers_that(spec, lambda c: any(p.get("hostPort") for p in
                                                     dicts(c.get("ports"))))
        out.append(f"hostPort ({_names('container', users)} uses "
                   f"hostPort{'s' if len(ports) > 1 else ''} {', '.join(ports)})")
    unconfined = ["pod"] if _seccomp(spec) == "Unconfined" else []
    unconfined += [f'container "{n}"' for n in _containers_that(
        spec, lambda c: _seccomp(c) == "Unconfined")]
    if unconfined:
        out.append(f"seccompProfile ({' and '.join(unconfined)} must not set "
                   'securityContext.seccompProfile.type to "Unconfined")')
    unmasked = _containers_that(spec, lambda c: _sc(c).get("procMount") == "Unmasked")
    if unmasked:
        out.append(f"procMount ({_names('container', unmasked)} must not set "
                   'securityContext.procMount to "Unmasked")')
    sysctls = sorted(str(s.get("name")) for s in dicts(_sc(spec).get("sysctls"))
                     if s.get("name") not in SAFE_SYSCTLS)
    if sysctls:
        out.append(f"forbidden sysctls ({', '.join(sysctls)})")
    return out


def _seccomp(obj: dict[str, Any]) -> Any:
    return as_dict(_sc(obj).get("seccompProfile")).get("type")


def restricted(spec: Object) -> list[str]:
    out = baseline(spec)
    bad_volumes = [(v.get("name"), k) for v in dicts(spec.get("volumes"))
                   for k in v if k != "name" and k not in RESTRICTED_VOLUMES]
    if bad_volumes:
        kinds = ", ".join(f'"{k}"' for k in sorted({k for _, k in bad_volumes}))
        out.append(f"restricted volume types ({_names('volume', [n for n, _ in bad_volumes])} "
                   f"uses restricted volume type{'s' if kinds.count(',') else ''} {kinds})")
    escalating = _containers_that(spec, lambda c: _sc(c).get("allowPrivilegeEscalation")
                                  is not False)
    if escalating:
        out.append(f"allowPrivilegeEscalation != false ({_names('container', escalating)} must "
                   "set securityContext.allowPrivilegeEscalation=false)")
    pod_non_root = _sc(spec).get("runAsNonRoot") is True
    root_ok = _containers_that(spec, lambda c: _sc(c).get("runAsNonRoot") is False or (
        not pod_non_root and _sc(c).get("runAsNonRoot") is not True))
    if root_ok:
        out.append(f"runAsNonRoot != true (pod or {_names('container', root_ok)} must set "
                   "securityContext.runAsNonRoot=true)")
    zero = (["pod"] if _sc(spec).get("runAsUser") == 0 else []) + [
        f'container "{n}"' for n in _containers_that(spec, lambda c: _sc(c).get("runAsUser") == 0)]
    if zero:
        out.append(f"runAsUser=0 ({' and '.join(zero)} must not set runAsUser=0)")
    pod_profile = _seccomp(spec) in ("RuntimeDefault", "Localhost")
    unset = _containers_that(spec, lambda c: _seccomp(c) not in ("RuntimeDefault", "Localhost")
                             and not (pod_profile and _seccomp(c) is None))
    if unset:
        out.append(f"seccompProfile (pod or {_names('container', unset)} must set "
                   'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    not_dropped = _containers_that(spec, lambda c: "ALL" not in (
        as_dict(_sc(c).get("capabilities")).get("drop") or []))
    extra = _containers_that(spec, lambda c: any(
        a != "NET_BIND_SERVICE" for a in as_dict(_sc(c).get("capabilities")).get("add") or []))
    if not_dropped or extra:
        parts = []
        if not_dropped:
            parts.append(f"{_names('container', not_dropped)} must set "
                         'securityContext.capabilities.drop=["ALL"]')
        if extra:
            parts.append(f"{_names('container', extra)} must not include capabilities other "
                         'than "NET_BIND_SERVICE" in securityContext.capabilities.add')
        out.append(f"unrestricted capabilities ({'; '.join(parts)})")
    return out


def violations(level: str, spec: Any) -> list[str]:
    """What of `spec` (a pod spec) the level forbids; [] for privileged or a good pod."""
    if not isinstance(spec, dict) or level == "privileged":
        return []
    return restricted(spec) if level == "restricted" else baseline(spec)
