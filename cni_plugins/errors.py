"""CNI errors: one exception type carrying the spec's error code.

Every failure inside the plugin becomes a `CniError`; `plugin.run` is the one
place that turns it into the error JSON on stdout (as pkg/skel does in the
reference plugins), so no command has to know about the wire format.
"""

from __future__ import annotations

# Codes from the CNI spec (SPEC.md, "Error"); 100+ are ours.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
CHECK_FAILED = 100
NETLINK_FAILURE = 101
INTERFACE_EXISTS = 102
INTERNAL = 999


class CniError(Exception):
    """A failure reported to the runtime as {"code", "msg", "details"}."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, cni_version: str) -> dict[str, object]:
        out: dict[str, object] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out
