"""Node-local images and the imagePullPolicy rules.

No registry is reachable on these machines, so the node builds what it needs from
the host's busybox-static: a rootfs tar (busybox + applet symlinks + /etc/passwd and
/etc/group, without which busybox `wget` crashes) given to `docker import`.
`minikube-py/busybox:1` is for workloads and tests; `minikube-py/pause:1` is the pod
sandbox: a shell that sleeps forever and exits 0 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import tarfile
import time
from typing import Any

from agent.kubelet.errors import ImageError, KubeletError, RuntimeUnavailable
from agent.kubelet.runtime import DockerRuntime

log = logging.getLogger(__name__)

BUSYBOX_IMAGE = "minikube-py/busybox:1"
PAUSE_IMAGE = "minikube-py/pause:1"
PAUSE_COMMAND = ["/bin/sh", "-c", 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait; done']

_PASSWD = ("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
           "www-data:x:33:33:www-data:/var/www:/bin/false\n")
_GROUP = "root:x:0:\nnobody:x:65534:\nwww-data:x:33:\n"


def busybox_rootfs_tar(busybox: str = "/usr/bin/busybox") -> bytes:
    """A minimal rootfs: /bin/busybox, a symlink per applet, /etc basics, /tmp 1777."""
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, now
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "root", "proc", "sys", "dev", "var", "var/www", "usr",
                  "usr/bin", "home"):
            add_dir(d, 0o700 if d == "root" else 0o755)
        add_dir("tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, "busybox", 0o777, now
            tar.addfile(link)
        add_file("etc/passwd", _PASSWD.encode())
        add_file("etc/group", _GROUP.encode())
    return buf.getvalue()


_LOCAL_IMAGES = {
    BUSYBOX_IMAGE: ["LABEL io.minikube-py.image=busybox", 'CMD ["/bin/sh"]',
                    "ENV PATH=/bin:/usr/bin"],
    PAUSE_IMAGE: ["LABEL io.minikube-py.image=pause", f"CMD {json.dumps(PAUSE_COMMAND)}",
                  "ENV PATH=/bin:/usr/bin"],
}


async def _ensure(runtime: DockerRuntime, ref: str) -> str:
    """`docker import` the busybox rootfs as `ref` unless it exists."""
    if await runtime.image_inspect(ref) is not None:
        return ref
    if not os.path.exists("/usr/bin/busybox"):
        raise KubeletError("busybox-static is not installed (/usr/bin/busybox)")
    log.info("building node-local image ref=%s", ref)
    repo, tag = ref.rsplit(":", 1)
    await runtime.import_image(await asyncio.to_thread(busybox_rootfs_tar), repository=repo,
                               tag=tag, changes=_LOCAL_IMAGES[ref])
    return ref


def ensure_busybox_image(docker_host: str | None = None) -> str:
    """Blocking, for callers without an event loop (`up`, the sample app): the busybox tag."""
    async def ensure() -> str:
        runtime = DockerRuntime(docker_host, workers=1)
        try:
            return await _ensure(runtime, BUSYBOX_IMAGE)
        finally:
            await runtime.close()
    return asyncio.run(ensure())


async def ensure_local_images(runtime: DockerRuntime) -> None:
    """Build the node-local busybox and pause images if they are missing (idempotent)."""
    for ref in _LOCAL_IMAGES:
        await _ensure(runtime, ref)


def normalize(ref: str) -> str:
    """Docker's reading of an image reference: no tag and no digest means `:latest`."""
    last = ref.rsplit("/", 1)[-1]
    return ref if (":" in last or "@" in ref) else f"{ref}:latest"


def pull_policy(container: dict[str, Any]) -> str:
    """Kubernetes' default: Always for `:latest` (or untagged), IfNotPresent otherwise."""
    policy = container.get("imagePullPolicy")
    if policy:
        return str(policy)
    return "Always" if normalize(container["image"]).endswith(":latest") else "IfNotPresent"


async def ensure_image(runtime: DockerRuntime, container: dict[str, Any]) -> dict[str, Any]:
    """Make the container's image present per its pull policy; returns the image's inspect.

    Raises `ImageError` with Kubernetes' waiting reason: ErrImageNeverPull when the policy
    forbids pulling a missing image, ErrImagePull with Docker's message when a pull fails
    (the caller turns repeated failures into ImagePullBackOff).
    """
    ref = normalize(container["image"])
    policy = pull_policy(container)
    present = await runtime.image_inspect(ref)
    if policy == "Never":
        if present is None:
            raise ImageError("ErrImageNeverPull",
                             f'Container image "{container["image"]}" is not present with pull '
                             "policy of Never")
        return present
    if policy == "IfNotPresent" and present is not None:
        return present
    try:
        await runtime.pull(ref)
    except RuntimeUnavailable:
        raise
    except KubeletError as e:
        if policy == "Always" and present is not None:
            # A node-local image that no registry knows: keep what we have, as a cache.
            log.info("pull failed, using local image ref=%s err=%s", ref, e)
            return present
        msg = getattr(e, "explanation", None) or str(e)
        raise ImageError("ErrImagePull", f'failed to pull image "{container["image"]}": {msg}') from e
    inspected = await runtime.image_inspect(ref)
    if inspected is None:
        raise ImageError("ErrImagePull", f'image "{container["image"]}" missing after pull')
    return inspected
