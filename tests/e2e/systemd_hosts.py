"""Real hosts for the install.sh tests: Docker containers with systemd as PID 1, as kind
builds its nodes, each running its own dockerd, on a user-defined Docker network as the LAN.

The node image is a Debian 12 rootfs made with debootstrap and `docker import`ed (no
registry is reachable here). It is pre-seeded with what install.sh would fetch: the Debian
packages of its `pkgs=(...)` lists and the Python packages of setup.cfg in
/opt/minikube-py/venv, so install.sh, run unchanged, finds them installed and only builds
the project. The inner dockerd uses the vfs storage driver (overlay on the outer overlay is
refused) and the systemd cgroup driver, so every inner container's cgroup lives under the
host container's and goes with it. Building takes minutes; the image is kept, named
`minikube-py-test/host:<hash of what went into it>` (`docker rmi` it to rebuild), and a
change of install.sh's packages, setup.cfg or this recipe makes a new one.

A host is started without --privileged (this kernel refuses it): SYS_ADMIN and NET_ADMIN,
seccomp and AppArmor unconfined, the cgroup v1 tree mounted rw, tmpfs /run.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import logging
import random
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
IMAGE_REPOSITORY = "minikube-py-test/host"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "iproute2", "ca-certificates")
VENV = "/opt/minikube-py/venv"  # install.sh's PREFIX/venv: it reuses one that exists
DAEMON_JSON = '{"storage-driver": "vfs", "exec-opts": ["native.cgroupdriver=systemd"]}'
LABEL = "minikube-py.test.hosts"  # on every container and network made here
RUN_FLAGS = ("--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
             "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
             "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
             "--stop-signal", "SIGRTMIN+3")
LOCK = Path("/tmp/minikube-py-test-host-image.lock")
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


def docker(*args: str, timeout: float = 120, check: bool = True,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False, input=stdin)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {done.stderr.strip()}")
    return done


def install_sh_packages() -> list[str]:
    """Every package install.sh's `pkgs=(...)`/`pkgs+=(...)` lines name (either role)."""
    text = (REPO / "install.sh").read_text()
    return sorted({p for words in re.findall(r"pkgs\+?=\(([^)]*)\)", text)
                   for p in words.split()})


def python_requirements() -> list[str]:
    """setup.cfg's install_requires, plus what building the project needs."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    return [s for s in (line.split("#")[0].strip() for line in lines) if s] + [
        "setuptools>=61", "wheel"]


def local_cas() -> list[Path]:
    """The CAs this machine adds to Debian's (e.g. a TLS-intercepting egress proxy's): the
    hosts trust them too, or pip (install.sh's and the image's) cannot reach PyPI."""
    return sorted(LOCAL_CA_DIR.glob("*.crt"))


def dockerfile(base: str) -> str:
    """The second stage: on the imported rootfs, this machine's CAs, pip told to use the
    system's trust store (as this machine's /etc/pip.conf does), the venv and the inner
    dockerd's config."""
    reqs = " ".join(map(shlex.quote, python_requirements()))
    pip_conf = r"[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"  # printf expands
    return (f"FROM {base}\n"
            + (f"COPY *.crt {LOCAL_CA_DIR}/\n" if local_cas() else "")
            + f"RUN update-ca-certificates && printf {shlex.quote(pip_conf)} > /etc/pip.conf"
            f" && mkdir -p /etc/docker && echo {shlex.quote(DAEMON_JSON)} > /etc/docker/daemon.json"
            f" && python3 -m venv {VENV} && {VENV}/bin/pip install -q {reqs}\n"
            'CMD ["/sbin/init"]\n')


def image_tag() -> str:
    recipe = "\n".join([SUITE, MIRROR, *BASE_PACKAGES, *install_sh_packages(),
                        dockerfile("base"), *(ca.read_text() for ca in local_cas())])
    return f"{IMAGE_REPOSITORY}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def image_present(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def ensure_image() -> str:
    """The node image, built unless present (one builder at a time on this machine)."""
    tag = image_tag()
    if image_present(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (bin/bootstrap installs it)")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image_present(tag):
            started = time.monotonic()
            _build(tag)
            log.info("host image built tag=%s seconds=%.0f", tag, time.monotonic() - started)
    return tag


def _build(tag: str) -> None:
    """debootstrap -> docker import (`<tag>-rootfs`, kept if the second stage fails, so a
    retry starts from it) -> docker build of the second stage."""
    base = f"{tag}-rootfs"
    if not image_present(base):
        _import_rootfs(base)
    with tempfile.TemporaryDirectory(prefix="mkp-host-context-") as context:
        for ca in local_cas():
            shutil.copy(ca, context)
        (Path(context) / "Dockerfile").write_text(dockerfile(base))
        # The host's network: the build needs no docker0 (a test may have taken it away).
        done = docker("build", "--rm", "--force-rm", "--network", "host", "-t", tag, context,
                      timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker build {tag}: {done.stdout[-3000:]}{done.stderr[-2000:]}")
    docker("rmi", base)  # only a name: its layer stays as the image's first


def _import_rootfs(base: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mkp-host-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        include = ",".join([*BASE_PACKAGES, *install_sh_packages()])
        done = subprocess.run(["debootstrap", "--variant=minbase", f"--include={include}",
                               SUITE, str(rootfs), MIRROR], capture_output=True, text=True,
                              timeout=900, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "--change", "ENV container=docker", "-",
                                   base], stdin=tar.stdout, capture_output=True, timeout=600,
                                  check=False)
        tar.wait()
        if imported.returncode != 0:
            raise RuntimeError(f"docker import: {imported.stderr.decode()}")


@dataclass(frozen=True)
class Host:
    """One "machine": its container, hostname (= node name) and LAN address."""

    container: str
    name: str
    ip: str

    def sh(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a bash script on the host as root (never raises on a non-zero exit)."""
        return docker("exec", self.container, "bash", "-c", script, timeout=timeout,
                      check=False)

    def must(self, script: str, timeout: float = 120) -> str:
        done = self.sh(script, timeout)
        assert done.returncode == 0, f"{self.name}: {script}: {done.stdout}{done.stderr}"
        return done.stdout

    def booted(self) -> bool:
        """systemd finished starting (degraded counts: a unit of the image may fail)."""
        state = self.sh("systemctl is-system-running", timeout=30).stdout.strip()
        return state in ("running", "degraded")


@dataclass
class Lan:
    """A user-defined Docker network and the hosts on it; `close` removes them all."""

    image: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    network: str = ""
    prefix: str = ""  # "10.213.N."
    hosts: list[Host] = field(default_factory=list)

    def open(self) -> Lan:
        self.network = f"mkp-hosts-{self.run_id}"
        for _ in range(20):  # a free /24 (another network may hold one)
            self.prefix = f"10.213.{random.randrange(256)}."
            made = docker("network", "create", "--label", f"{LABEL}={self.run_id}",
                          "--subnet", f"{self.prefix}0/24", "--ip-range", f"{self.prefix}0/25",
                          self.network, check=False)
            if made.returncode == 0:
                return self
            if "overlap" not in made.stderr:
                raise RuntimeError(f"docker network create: {made.stderr.strip()}")
        raise RuntimeError("no free 10.213.N.0/24 for the LAN")

    @property
    def vip(self) -> str:
        """Outside docker's --ip-range: no container is ever given it."""
        return f"{self.prefix}200"

    def boot(self, *names: str, timeout: float = 90) -> list[Host]:
        """Start one host per name (hostname = name) with the repository at /src, read-only."""
        made = []
        for name in names:
            host = Host(f"{self.network}-{name}", name, f"{self.prefix}{10 + len(self.hosts)}")
            docker("run", "-d", "--name", host.container, "--hostname", name,
                   "--label", f"{LABEL}={self.run_id}", "--network", self.network,
                   "--ip", host.ip, *RUN_FLAGS, "-v", f"{REPO}:/src:ro", self.image)
            self.hosts.append(host)
            made.append(host)
        deadline = time.monotonic() + timeout
        for host in made:
            while not host.booted():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{host.name}: systemd did not finish booting: "
                                       f"{host.sh('systemctl --failed; systemctl list-jobs').stdout}")
                time.sleep(0.5)
        return made

    def close(self) -> None:
        """Every container and the network of this run, whatever state they are in."""
        listed = docker("ps", "-aq", "--filter", f"label={LABEL}={self.run_id}", check=False)
        ids = listed.stdout.split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False, timeout=180)
        if self.network:
            docker("network", "rm", self.network, check=False)

        remove_unmounted_cgroups()

    def leftovers(self) -> list[str]:
        found = docker("ps", "-aq", "--filter", f"label={LABEL}={self.run_id}").stdout.split()
        nets = docker("network", "ls", "-q", "--filter", f"label={LABEL}={self.run_id}")
        return found + nets.stdout.split() + [f"cgroup hierarchy {h} kept by its cgroups"
                                              for h in unmounted_hierarchies(populated=True)]


def unmounted_hierarchies(*, populated: bool = False) -> list[str]:
    """cgroup v1 hierarchies the kernel holds but this host does not mount.

    A host's systemd and dockerd (which see the host's cgroup tree, mounted rw) mount every
    controller the kernel has and make cgroups in them; the hierarchy outlives the hosts
    while those cgroups last, and the host's containerd shim, finding it in every
    /proc/PID/cgroup with no mount, then watches no container for OOM kills (dockerd's
    State.OOMKilled stays false: "cgroups: cannot find cgroup mount destination").
    `populated`: only those holding cgroups besides their root (the kernel lets an empty
    one go in its own time)."""
    counts = {fields[0]: int(fields[2]) for fields in (
        line.split() for line in Path("/proc/cgroups").read_text().splitlines()[1:])}
    mounted: set[str] = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        _, _, fs = line.partition(" - ")
        parts = fs.split()
        if len(parts) >= 3 and parts[0] == "cgroup":
            mounted.update(parts[2].split(","))
    found = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        controllers = line.split(":", 2)[1]
        names = controllers.split(",")
        if controllers and not set(names) & mounted and (
                not populated or any(counts.get(n, 0) > 1 for n in names)):
            found.append(controllers)
    return found


def remove_unmounted_cgroups() -> None:
    """The hosts' cgroups in hierarchies nothing on this host mounts (see above): mounted in
    a private mount namespace, emptied leaves first, so the kernel drops the hierarchy."""
    deadline = time.monotonic() + 10  # a removed host's last processes may still be exiting
    while True:
        _remove_cgroups_once()
        if not unmounted_hierarchies(populated=True) or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def _remove_cgroups_once() -> None:
    for controllers in unmounted_hierarchies():
        options = controllers if "=" not in controllers else f"none,{controllers}"
        script = ('d=$(mktemp -d) && mount -t cgroup -o "$1" cgroup "$d" && '
                  'find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; '
                  'umount "$d"; rmdir "$d"')
        subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                        "sh", options], capture_output=True, timeout=60, check=False)


@contextlib.contextmanager
def lan(image: str) -> Iterator[Lan]:
    """A LAN for one test module, removed with its hosts even if the test failed."""
    net = Lan(image)
    try:
        yield net.open()
    finally:
        net.close()
    left = net.leftovers()
    assert left == [], left
