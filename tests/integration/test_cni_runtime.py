"""A runtime we did not write uses our plugin: containerd's `ctr run --cni` (go-cni/libcni).

ctr reads /etc/cni/net.d and /opt/cni/bin; we bind-mount private directories
over them inside the `ip netns exec` mount namespace of a node namespace, so
the host's directories are never written and the bridge lives in the node.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cni_plugins.install import install
from tests.fixtures.netns import Netns

pytestmark = [pytest.mark.root, pytest.mark.docker]

SOCKETS = ("/run/docker/containerd/containerd.sock", "/run/containerd/containerd.sock")
MOUNT_POINTS = ("/etc/cni/net.d", "/opt/cni/bin")


@pytest.fixture
def mount_points() -> Iterator[None]:
    """ctr's fixed CNI paths must exist to be mounted over; remove the ones we made."""
    made = []
    for path in MOUNT_POINTS:
        for parent in reversed([path, *map(str, Path(path).parents)]):
            if not os.path.exists(parent):
                os.mkdir(parent)
                made.append(parent)
    yield
    for path in reversed(made):
        try:
            os.rmdir(path)
        except OSError:
            pass


@pytest.fixture
def ctr(busybox_image: str) -> Iterator[tuple[list[str], str]]:
    """ctr in a containerd namespace of its own, with the busybox image imported."""
    address = next((s for s in SOCKETS if os.path.exists(s)), None)
    assert address, f"no containerd socket at {SOCKETS}"
    base = ["ctr", "-a", address, "-n", f"mkpt-{uuid.uuid4().hex[:8]}"]
    save = subprocess.Popen(["docker", "save", busybox_image], stdout=subprocess.PIPE)
    assert save.stdout is not None  # stdout=PIPE
    subprocess.run([*base, "images", "import", "-"], stdin=save.stdout, check=True,
                   capture_output=True)
    save.stdout.close()
    save.wait()
    image = f"docker.io/{busybox_image}"
    yield base, image
    for name in subprocess.run([*base, "containers", "ls", "-q"], capture_output=True,
                               text=True, check=False).stdout.split():
        subprocess.run([*base, "tasks", "kill", "-s", "KILL", name], capture_output=True, check=False)
        subprocess.run([*base, "containers", "rm", name], capture_output=True, check=False)
    subprocess.run([*base, "images", "rm", "--sync", image], capture_output=True, check=False)
    remove_namespace(base)


def remove_namespace(base: list[str]) -> None:
    """containerd refuses to drop a namespace that still holds snapshots or blobs."""
    for _ in range(20):
        snapshots = subprocess.run([*base, "snapshots", "ls"], capture_output=True,
                                   text=True, check=False).stdout.splitlines()[1:]
        for key in sorted((line.split()[0] for line in snapshots if line.strip()), key=len):
            subprocess.run([*base, "snapshots", "rm", key], capture_output=True, check=False)
        blobs = subprocess.run([*base, "content", "ls", "-q"], capture_output=True,
                               text=True, check=False).stdout.split()
        if blobs:
            subprocess.run([*base, "content", "rm", *blobs], capture_output=True, check=False)
        if subprocess.run(["ctr", *base[1:3], "namespaces", "rm", base[-1]],
                          capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.2)


def test_containerd_ctr_runs_a_container_with_an_address_from_our_plugin(
        netns: Callable[..., Netns], tmp_path: Path, mount_points: None,
        ctr: tuple[list[str], str]) -> None:
    base, image = ctr
    node = netns("ctrnode")
    conf_dir, bin_dir, sock = tmp_path / "net.d", tmp_path / "bin", tmp_path / "cni.sock"
    conf_dir.mkdir()
    install(str(bin_dir))
    shutil.copy("/usr/lib/cni/loopback", bin_dir)
    (conf_dir / "10-mkpt.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "mkpt-ctr", "plugins": [
            {"type": "mkp-bridge", "bridge": "cni0", "mtu": 1450, "socket": str(sock),
             "ipam": {"type": "mkp-local", "subnet": "10.244.88.0/24",
                      "dataDir": str(tmp_path / "ipam")}}]}))
    log = tmp_path / "service.log"
    with log.open("w") as err:
        node.popen(sys.executable, "-m", "cni_plugins.service", "--socket", str(sock),
                   stderr=err)
    deadline = time.monotonic() + 20
    while not sock.exists():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)

    script = (f"mount --bind {conf_dir} /etc/cni/net.d && mount --bind {bin_dir} /opt/cni/bin"
              f" && exec {' '.join(base)} run --rm --cni {image} mkpt-c1"
              " ip -o -4 addr show eth0")
    out = node.run("sh", "-c", script, timeout=120)
    assert "inet 10.244.88.2/24" in out.stdout, out.stdout + out.stderr
    assert "cni add container=" in log.read_text()  # served by our resident service
    leases = [p for p in (tmp_path / "ipam" / "mkpt-ctr").iterdir() if p.name[0].isdigit()]
    assert leases == []  # ctr --rm ran DEL through us: the lease is back
    assert not [line for line in node.run("ip", "-o", "link").stdout.splitlines()
                if "veth" in line]
