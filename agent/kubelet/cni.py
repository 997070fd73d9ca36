"""CNI, executed the way the spec says, so any plugin on the node works.

The network configuration is the lexicographically first *.conflist/*.conf/*.json in
the conf dir (as libcni picks it). ADD runs the plugins in order, each receiving the
previous result as `prevResult`; DEL runs them in reverse with the cached ADD result.
Results are cached per (container, interface) under the state dir, like libcni's
/var/lib/cni/results, so a restarted agent can still delete and still knows pod IPs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.kubelet.errors import CNIError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PodRef:
    """What CNI_ARGS tells plugins about the pod (the K8S_* keys kubelet passes)."""

    namespace: str
    name: str
    sandbox_id: str


def load_network(conf_dir: str | Path) -> dict[str, Any]:
    """The network list to use; a single-plugin .conf is wrapped into a list."""
    conf_dir = Path(conf_dir)
    files = sorted(p for p in conf_dir.glob("*") if p.suffix in (".conflist", ".conf", ".json"))
    if not files:
        raise CNIError("", 0, f"no network configuration in {conf_dir}")
    path = files[0]
    try:
        conf = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CNIError("", 0, f"cannot read network configuration {path}: {e}") from e
    if "plugins" not in conf:
        conf = {"cniVersion": conf.get("cniVersion", "0.3.1"), "name": conf.get("name", ""),
                "plugins": [conf]}
    if not conf["plugins"]:
        raise CNIError("", 0, f"network configuration {path} has no plugins")
    return dict(conf)


def pod_ips(result: dict[str, Any]) -> list[str]:
    """Addresses (without prefix length) of a CNI result, IPv4 first."""
    ips = [ip["address"].split("/")[0] for ip in result.get("ips", [])]
    if not ips and "ip4" in result:  # CNI 0.2.0
        ips = [result["ip4"]["ip"].split("/")[0]]
    return sorted(ips, key=lambda a: ":" in a)


class CNI:
    """Runs ADD/DEL for pod sandboxes with the configured network."""

    def __init__(self, conf_dir: str | Path, bin_dirs: list[str], state_dir: str | Path,
                 ifname: str = "eth0") -> None:
        self.conf_dir = Path(conf_dir)
        self.bin_dirs = list(bin_dirs)
        self.state_dir = Path(state_dir)
        self.ifname = ifname

    def _cache(self, sandbox_id: str) -> Path:
        return self.state_dir / f"{sandbox_id}-{self.ifname}.json"

    def cached_result(self, sandbox_id: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = json.loads(self._cache(sandbox_id).read_text())["result"]
            return result
        except (OSError, ValueError, KeyError):
            return None

    async def add(self, pod: PodRef, netns: str,
                  capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        """Attach the sandbox's netns; on failure, undo what earlier plugins did.

        `capabilities` (e.g. {"portMappings": [...]}) reach, as `runtimeConfig`, exactly
        the plugins whose config declares that capability, as the CNI spec says.
        """
        net = load_network(self.conf_dir)
        caps = capabilities or {}
        prev: dict[str, Any] | None = None
        try:
            for plugin in net["plugins"]:
                prev = await self._exec("ADD", net, plugin, pod, netns, prev, caps)
        except CNIError:
            try:
                await self._del(net, pod, netns, prev, caps)
            except CNIError as undo:  # the ADD's error is the one worth reporting
                log.warning("cni rollback failed sandbox=%s err=%s", pod.sandbox_id[:12], undo)
            raise
        result = prev or {}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._cache(pod.sandbox_id).with_suffix(".tmp")
        tmp.write_text(json.dumps({"network": net, "result": result, "capabilities": caps}))
        os.replace(tmp, self._cache(pod.sandbox_id))
        return result

    async def delete(self, pod: PodRef, netns: str) -> None:
        """Detach; idempotent. Uses the network the ADD used when it is cached."""
        try:
            cached = json.loads(self._cache(pod.sandbox_id).read_text())
        except (OSError, ValueError):
            cached = None
        if cached is None:
            try:
                net = load_network(self.conf_dir)
            except CNIError:
                return  # never attached, and nothing configured to detach from
            prev, caps = None, {}
        else:
            net, prev, caps = cached["network"], cached["result"], cached.get("capabilities", {})
        await self._del(net, pod, netns, prev, caps)
        self._cache(pod.sandbox_id).unlink(missing_ok=True)

    async def _del(self, net: dict[str, Any], pod: PodRef, netns: str,
                   prev: dict[str, Any] | None, caps: dict[str, Any]) -> None:
        errors = []
        for plugin in reversed(net["plugins"]):
            try:
                await self._exec("DEL", net, plugin, pod, netns, prev, caps)
            except CNIError as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def _binary(self, plugin_type: str) -> str:
        for d in self.bin_dirs:
            path = os.path.join(d, plugin_type)
            if os.access(path, os.X_OK):
                return path
        raise CNIError(plugin_type, 0, f'failed to find plugin "{plugin_type}" in path {self.bin_dirs}')

    async def _exec(self, command: str, net: dict[str, Any], plugin: dict[str, Any], pod: PodRef,
                    netns: str, prev: dict[str, Any] | None,
                    caps: dict[str, Any]) -> dict[str, Any]:
        conf = dict(plugin, name=net["name"], cniVersion=net["cniVersion"])
        if prev is not None:
            conf["prevResult"] = prev
        runtime_config = {k: v for k, v in caps.items()
                          if (plugin.get("capabilities") or {}).get(k)}
        if runtime_config:
            conf["runtimeConfig"] = runtime_config
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command, "CNI_CONTAINERID": pod.sandbox_id, "CNI_NETNS": netns,
            "CNI_IFNAME": self.ifname, "CNI_PATH": os.pathsep.join(self.bin_dirs),
            "CNI_ARGS": (f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod.namespace};"
                         f"K8S_POD_NAME={pod.name};K8S_POD_INFRA_CONTAINER_ID={pod.sandbox_id}"),
        }
        ptype = plugin["type"]
        proc = await asyncio.create_subprocess_exec(
            self._binary(ptype), env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(json.dumps(conf).encode())
        if proc.returncode != 0:
            try:
                e = json.loads(out)
                raise CNIError(ptype, int(e.get("code", 0)), e.get("msg", ""), e.get("details", ""))
            except ValueError:
                raise CNIError(ptype, 0, (out + err).decode(errors="replace").strip()) from None
        log.debug("cni command=%s plugin=%s sandbox=%s", command, ptype, pod.sandbox_id[:12])
        if command != "ADD":
            return prev or {}
        try:
            return json.loads(out) if out.strip() else (prev or {})
        except ValueError as e:
            raise CNIError(ptype, 0, f"invalid result: {out[:200]!r}") from e
