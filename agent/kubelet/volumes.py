"""Pod volumes on the host, bind-mounted into the pod's containers.

Each pod owns `<root>/pods/<uid>/volumes/<volume>`; Memory emptyDirs are a tmpfs
mounted there (shared by all the pod's containers, as in Kubernetes). ConfigMap,
Secret, downwardAPI and projected volumes are written the way Kubernetes' atomic
writer does it (atomic_writer.py), each file with its item's mode or the volume's
defaultMode. The service-account credentials are such a volume too: the projected
`kube-api-access-*` volume the api-server's admission adds, whose token comes from
TokenRequest bound to the pod (tokens.py; 0600 and owned by the pod's user when all its
containers run as one, or with an fsGroup, as kubelet) and whose ca.crt comes from the
namespace's kube-root-ca.crt ConfigMap (until the controller-manager publishes it: the
CA this kubelet trusts, the same certificate). Containers get these kinds read-only. A
persistentVolumeClaim volume is its bound volume: a hostPath/local directory bound as
is, or an NFS export mounted at the pod's volume directory (unmounted with the pod, like
a Memory emptyDir). With the pod's fsGroup, emptyDir, configMap, secret, downwardAPI,
projected, local and local-path volumes are given to that group when set up (fsgroup.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from agent.kubelet import fsgroup, subpath
from agent.kubelet.atomic_writer import FileProjection, write_atomic
from agent.kubelet.env import decoded, field_value, sub_path
from agent.kubelet.errors import ContainerConfigError
from agent.kubelet.localpath import PROVISIONED_BY
from agent.kubelet.source import ObjectSource
from agent.kubelet.subpath import below
from agent.kubelet.tokens import TokenManager
from minikube_py.api.quantity import to_bytes
from minikube_py.api.resources import (
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    SECRETS,
)
from minikube_py.api.storageclass import LOCAL_PATH_PROVISIONER

log = logging.getLogger(__name__)

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
MAX_MESSAGE_BYTES = 4096
API_DATA_KINDS = ("configMap", "secret", "downwardAPI", "projected")  # written by the kubelet
NFS_MOUNT_TIMEOUT = 30.0


def _items(data: dict[str, bytes], items: list[dict[str, Any]] | None, what: str,
           optional: bool, mode: int) -> dict[str, FileProjection]:
    """Every key as a file with `mode`, or the listed items with theirs."""
    if not items:
        return {key: FileProjection(value, mode) for key, value in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise ContainerConfigError(f"{what}: key {item['key']!r} not found")
        out[item["path"]] = FileProjection(data[item["key"]], int(item.get("mode", mode)))
    return out


def fs_user(pod: dict[str, Any]) -> int | None:
    """The one user every container of the pod runs as (its own runAsUser, else the pod's);
    None if one sets none or two differ (kubelet's FsUserFrom)."""
    psc = pod["spec"].get("securityContext") or {}
    users = {(c.get("securityContext") or {}).get("runAsUser", psc.get("runAsUser"))
             for c in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]}
    found = users.pop() if len(users) == 1 else None
    return int(found) if found is not None else None


class VolumeManager:
    """Makes a pod's volumes exist on the host and says where to bind them."""

    def __init__(self, root: str | Path, source: ObjectSource, root_ca: bytes | None = None,
                 *, docker_url: str = "") -> None:
        self.root = Path(root)
        self.source = source
        self.root_ca = root_ca
        self.tokens = TokenManager(source)
        self._owned: set[tuple[str, str]] = set()  # (pod uid, volume): fsGroup applied
        self.pinned_subpaths = subpath.binds_visible(docker_url)

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    async def prepare(self, pod: dict[str, Any], *, pod_ip: str = "",
                      host_ip: str = "") -> dict[str, str]:
        """Volume name -> host path for every volume of the pod."""
        uid = pod["metadata"]["uid"]
        self._private_pod_dir(uid)
        paths: dict[str, str] = {}
        for vol in pod["spec"].get("volumes") or []:
            paths[vol["name"]] = await self._volume(pod, vol, self.pod_dir(uid) / "volumes" /
                                                    vol["name"], pod_ip, host_ip)
        return paths

    def _private_pod_dir(self, uid: str) -> None:
        """Only root may traverse to a pod's files (Secrets, tokens: 0644 inside), as
        kubelet's pods dir: <root>/pods 0700, <root>/pods/<uid> 0750. Containers reach
        their volumes through bind mounts, which these modes do not affect."""
        pods = self.root / "pods"
        pods.mkdir(parents=True, exist_ok=True)
        pods.chmod(0o700)
        pod_dir = self.pod_dir(uid)
        pod_dir.mkdir(exist_ok=True)
        pod_dir.chmod(0o750)

    def binds(self, pod: dict[str, Any], container: dict[str, Any], paths: dict[str, str],
              env: dict[str, str]) -> list[str]:
        """docker `binds` for a container's volumeMounts (subPath or subPathExpr, expanded
        with the container's `env`; readOnly)."""
        binds = []
        read_only = _read_only_volumes(pod)
        for index, m in enumerate(container.get("volumeMounts") or []):
            if m["name"] not in paths:
                raise ContainerConfigError(f'volumeMount "{m["name"]}" refers to no volume')
            host = paths[m["name"]]
            sub = sub_path(m, env)
            if sub:
                host = self._subpath(pod["metadata"]["uid"], container["name"], index,
                                     m["name"], sub, host)
            ro = m.get("readOnly") or m["name"] in read_only
            binds.append(f"{host}:{m['mountPath']}:{'ro' if ro else 'rw'}")
        return binds

    def _subpath(self, uid: str, container: str, index: int, name: str, sub: str,
                 volume: str) -> str:
        """The host path to bind for a subPath mount: a bind pinning what was checked
        (subpath.py), or, where dockerd would not see that bind, the checked path."""
        if not self.pinned_subpaths:
            os.makedirs(below(volume, sub), exist_ok=True)
            return below(volume, sub)  # again: nothing swapped in meanwhile
        target = self.pod_dir(uid) / subpath.SUBPATHS_DIR / name / container / str(index)
        return subpath.bind(volume, sub, target)

    def termination_log(self, uid: str, container: str, attempt: int) -> Path:
        """Host side of a container attempt's terminationMessagePath (made empty, 0666)."""
        return self.pod_dir(uid) / "containers" / container / str(attempt) / "termination-log"

    def termination_message(self, uid: str, container: str, attempt: int) -> str:
        """The first 4 KiB the container wrote there (a small local file)."""
        try:
            with open(self.termination_log(uid, container, attempt), "rb") as f:
                return f.read(MAX_MESSAGE_BYTES).decode(errors="replace")
        except OSError:
            return ""

    def new_termination_log(self, uid: str, container: str, attempt: int) -> str:
        path = self.termination_log(uid, container, attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        path.chmod(0o666)
        return str(path)

    def etc_hosts(self, pod: dict[str, Any], pod_ip: str) -> str | None:
        """The pod's /etc/hosts (localhost and its own name at its IP), as kubelet manages it;
        None for hostNetwork pods, which see the node's."""
        if pod["spec"].get("hostNetwork") or not pod_ip:
            return None
        meta, spec = pod["metadata"], pod["spec"]
        hostname = spec.get("hostname") or meta["name"]
        names = [hostname]
        if spec.get("subdomain"):
            names.insert(0, f"{hostname}.{spec['subdomain']}.{meta['namespace']}.svc.cluster.local")
        lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
                 "::1\tlocalhost ip6-localhost ip6-loopback", f"{pod_ip}\t{' '.join(names)}"]
        for alias in spec.get("hostAliases") or []:
            lines.append(f"{alias['ip']}\t{' '.join(alias.get('hostnames') or [])}")
        return self.pod_file(meta["uid"], "etc-hosts", "\n".join(lines) + "\n")

    def pod_file(self, uid: str, name: str, text: str) -> str:
        """Write a file the kubelet manages for the pod (etc-hosts, resolv.conf); its path."""
        path = self.pod_dir(uid) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)

    async def cleanup(self, uid: str) -> None:
        """Unmount tmpfs volumes and remove the pod's directory; missing is done."""
        self.tokens.forget(uid)
        self._owned = {owned for owned in self._owned if owned[0] != uid}
        pod_dir = self.pod_dir(uid)
        if not pod_dir.exists():
            return
        try:  # first: a bind left would join the tree removed below to a volume's files
            await asyncio.to_thread(subpath.unmount, pod_dir / subpath.SUBPATHS_DIR)
        except OSError as e:
            raise ContainerConfigError(str(e)) from None
        for vol in (pod_dir / "volumes").glob("*"):
            if os.path.ismount(vol):
                await _run("umount", str(vol))
        await asyncio.to_thread(shutil.rmtree, pod_dir, True)

    async def _own(self, pod: dict[str, Any], vol: dict[str, Any], path: str, *,
                   read_only: bool, again: bool = False) -> None:
        """The pod's fsGroup on the volume, once per pod (kubelet does it at set-up), or
        `again` after its files were rewritten."""
        group = fsgroup.of_pod(pod)
        key = (pod["metadata"]["uid"], vol["name"])
        if group is None or (key in self._owned and not again):
            return
        await asyncio.to_thread(fsgroup.set_volume_ownership, path, group, read_only=read_only)
        self._owned.add(key)

    async def _volume(self, pod: dict[str, Any], vol: dict[str, Any], target: Path,
                      pod_ip: str, host_ip: str) -> str:
        path = await self._set_up(pod, vol, target, pod_ip, host_ip)
        if "emptyDir" in vol:
            await self._own(pod, vol, path, read_only=False)
        return path

    async def _set_up(self, pod: dict[str, Any], vol: dict[str, Any], target: Path,
                      pod_ip: str, host_ip: str) -> str:
        if "emptyDir" in vol:
            ed = vol["emptyDir"] or {}
            target.mkdir(parents=True, exist_ok=True)
            if ed.get("medium") == "Memory" and not os.path.ismount(target):
                opts = "mode=0777"
                if ed.get("sizeLimit"):
                    opts += f",size={to_bytes(ed['sizeLimit'])}"
                await _run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target))
            else:
                target.chmod(0o777)
            return str(target)
        if "hostPath" in vol:
            return _host_path(vol["hostPath"])
        if "nfs" in vol:
            return await _mount_nfs(vol["nfs"], target, [])
        if "persistentVolumeClaim" in vol:
            return await self._claimed(pod, vol, target)
        kind = next((k for k in API_DATA_KINDS if k in vol), "")
        mode = int((vol.get(kind) or {}).get("defaultMode", 0o644))
        files = await self._projection(pod, vol, pod_ip, host_ip, mode)
        written = await asyncio.to_thread(write_atomic, target, files)
        await self._own(pod, vol, str(target), read_only=True, again=written)
        return str(target)

    async def _claimed(self, pod: dict[str, Any], vol: dict[str, Any], target: Path) -> str:
        """The host path of the volume bound to the claim (the scheduler binds pods only
        once their claims are bound; a claim unbound here is an error to retry). local and
        local-path volumes get the pod's fsGroup; other hostPath volumes do not, as in
        Kubernetes."""
        ref = vol["persistentVolumeClaim"]
        name = ref["claimName"]
        claim = await self.source.get(PERSISTENTVOLUMECLAIMS, pod["metadata"]["namespace"], name)
        if claim is None:
            raise ContainerConfigError(f'persistentvolumeclaim "{name}" not found')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name or (claim.get("status") or {}).get("phase") != "Bound":
            raise ContainerConfigError(f'persistentvolumeclaim "{name}" is not bound')
        volume = await self.source.get(PERSISTENTVOLUMES, "", volume_name)
        if volume is None:
            raise ContainerConfigError(f'persistentvolume "{volume_name}" not found')
        spec = volume.get("spec") or {}
        read_only = bool(ref.get("readOnly"))
        if spec.get("hostPath"):
            path = _host_path(spec["hostPath"])
            if (volume["metadata"].get("annotations") or {}).get(
                    PROVISIONED_BY) == LOCAL_PATH_PROVISIONER:
                await self._own(pod, vol, path, read_only=read_only)
            return path
        if spec.get("local"):
            path = str(spec["local"]["path"])
            if not os.path.isdir(path):
                raise ContainerConfigError(f"local volume {volume_name}: {path} does not exist")
            await self._own(pod, vol, path, read_only=read_only)
            return path
        if spec.get("nfs"):
            return await _mount_nfs(spec["nfs"], target, list(spec.get("mountOptions") or []))
        raise ContainerConfigError(f'persistentvolume "{volume_name}": unsupported volume type')

    async def _projection(self, pod: dict[str, Any], vol: dict[str, Any], pod_ip: str,
                          host_ip: str, mode: int) -> dict[str, FileProjection]:
        """The files of a configMap/secret/downwardAPI/projected volume (`mode`: the
        volume's defaultMode, a projected volume's for all its sources)."""
        ns = pod["metadata"]["namespace"]
        if "projected" in vol:
            files: dict[str, FileProjection] = {}
            for src in vol["projected"].get("sources") or []:
                if "serviceAccountToken" in src:
                    user, group = fs_user(pod), fsgroup.of_pod(pod)
                    token = await self.tokens.token(pod, src["serviceAccountToken"])
                    files[src["serviceAccountToken"].get("path", "token")] = FileProjection(
                        token, 0o600 if user is not None or group else mode, user)
                elif (src.get("configMap") or {}).get("name") == ROOT_CA_CONFIGMAP \
                        and self.root_ca is not None \
                        and await self.source.get(CONFIGMAPS, ns, ROOT_CA_CONFIGMAP) is None:
                    files.update(_items({"ca.crt": self.root_ca}, src["configMap"].get("items"),
                                        ROOT_CA_CONFIGMAP, False, mode))
                else:
                    files.update(await self._projection(pod, src, pod_ip, host_ip, mode))
            return files
        for kind, resource, name_key in (("configMap", CONFIGMAPS, "name"),
                                         ("secret", SECRETS, "secretName")):
            if kind in vol:
                ref = vol[kind]
                optional = bool(ref.get("optional"))
                obj = await self.source.get(resource, ns, ref[name_key])
                if obj is None:
                    if optional:
                        return {}
                    raise ContainerConfigError(
                        f'{kind} "{ref[name_key]}" not found (volume "{vol.get("name", "")}")')
                return _items(decoded(resource, obj), ref.get("items"),
                              f'{kind} "{ref[name_key]}"', optional, mode)
        if "downwardAPI" in vol:
            return {item["path"]: FileProjection(
                field_value(pod, item["fieldRef"]["fieldPath"], pod_ip=pod_ip,
                            host_ip=host_ip).encode(), int(item.get("mode", mode)))
                    for item in vol["downwardAPI"].get("items") or [] if "fieldRef" in item}
        raise ContainerConfigError(f'volume "{vol.get("name", "")}": unsupported volume type')


def _host_path(hp: dict[str, Any]) -> str:
    path, kind = hp["path"], hp.get("type", "")
    if kind == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        open(path, "a").close()
    elif kind == "Directory" and not os.path.isdir(path):
        raise ContainerConfigError(f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not os.path.isfile(path):
        raise ContainerConfigError(f"hostPath type check failed: {path} is not a file")
    return str(path)


def _read_only_volumes(pod: dict[str, Any]) -> set[str]:
    """Volumes every mount of which is read-only: the kinds the kubelet writes (as in
    Kubernetes since 1.10: links a container planted there would be followed by the
    writer), and claims or NFS sources that say readOnly."""
    return {v["name"] for v in pod["spec"].get("volumes") or []
            if any(kind in v for kind in API_DATA_KINDS)
            or (v.get("persistentVolumeClaim") or v.get("nfs") or {}).get("readOnly")}


async def _mount_nfs(source: dict[str, Any], target: Path, options: list[str]) -> str:
    """mount.nfs server:path at the pod's volume dir (once; a resync finds it mounted).
    An unreachable server fails within NFS_MOUNT_TIMEOUT: FailedMount, retried later."""
    server, path = str(source.get("server") or ""), str(source.get("path") or "")
    # An inline pod volume reaches here unvalidated: a server starting with '-' would be
    # parsed by mount(8) as an option ("-oexec:/x"), so refuse it before running mount.
    if not server or server.startswith("-") or any(c.isspace() for c in server + path):
        raise ContainerConfigError(f"nfs server {server!r}: must be a host name or address")
    if not path.startswith("/"):
        raise ContainerConfigError(f"nfs path {path!r}: must be an absolute path")
    target.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(target):
        opts = ["-o", ",".join(options)] if options else []
        await _run("mount", "-t", "nfs", *opts, f"{server}:{path}",
                   str(target), timeout=NFS_MOUNT_TIMEOUT)
    return str(target)


async def _run(*cmd: str, timeout: float | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ContainerConfigError(f"{' '.join(cmd)}: timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise ContainerConfigError(f"{' '.join(cmd)}: {out.decode(errors='replace').strip()}")
