"""The CNI entry point: environment + stdin in, result or error JSON out.

`run` is the one place that turns any failure into the spec's error JSON
(pkg/skel's job in the reference plugins); it is shared by the in-process
executable (`python -m cni_plugins`) and the resident netlink service, so
both answer byte-for-byte alike. VERSION does not import pyroute2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import IO

from cni_plugins.conf import LATEST, SUPPORTED_VERSIONS, decode, parse_env, parse_netconf
from cni_plugins.errors import INTERNAL, IO_FAILURE, NETLINK_FAILURE, CniError

log = logging.getLogger(__name__)


def _version_of(stdin: bytes) -> str:
    """The version to answer in, even for an error about the config itself."""
    try:
        version = json.loads(stdin).get("cniVersion")
    except (ValueError, AttributeError):
        return LATEST
    return version if version in SUPPORTED_VERSIONS else LATEST


def _dispatch(environ: Mapping[str, str], stdin: bytes) -> str:
    env = parse_env(environ)
    if env.command == "VERSION":
        return json.dumps({"cniVersion": _version_of(stdin),
                           "supportedVersions": list(SUPPORTED_VERSIONS)})
    conf = parse_netconf(decode(stdin))
    from pyroute2.netlink.exceptions import NetlinkError

    from cni_plugins.commands import HANDLERS

    try:
        out = HANDLERS[env.command](env, conf)
    except NetlinkError as e:
        raise CniError(NETLINK_FAILURE, f"netlink {env.command} failed: {e}") from e
    except OSError as e:
        raise CniError(IO_FAILURE, f"{env.command} failed: {e}") from e
    return json.dumps(out) if out is not None else ""


def run(environ: Mapping[str, str], stdin: bytes) -> tuple[int, str]:
    """Execute one CNI command; returns (exit code, stdout text)."""
    try:
        return 0, _dispatch(environ, stdin)
    except CniError as e:
        log.warning("cni error command=%s code=%d msg=%s details=%s",
                    environ.get("CNI_COMMAND"), e.code, e.msg, e.details)
        return 1, json.dumps(e.to_json(_version_of(stdin)))
    except Exception as e:  # the runtime must get JSON, whatever went wrong
        log.exception("cni internal error command=%s", environ.get("CNI_COMMAND"))
        return 1, json.dumps(CniError(INTERNAL, f"internal error: {e!r}").to_json(
            _version_of(stdin)))


def main(environ: Mapping[str, str], stdin: IO[bytes], stdout: IO[str]) -> int:
    code, text = run(environ, stdin.read())
    if text:
        stdout.write(text)
        stdout.flush()
    return code
