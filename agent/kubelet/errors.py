"""The kubelet's own error tree: the Docker SDK and CNI exceptions stop at our boundary.

Callers catch the narrow error they can act on; `RuntimeUnavailable` in particular means
"dockerd is restarting or unreachable: wait and reconcile again", never "the pod failed".
"""

from __future__ import annotations


class KubeletError(Exception):
    """Base of everything the kubelet raises on purpose."""


class RuntimeUnavailable(KubeletError):
    """dockerd did not answer; retry later, change nothing in the API."""


class ContainerNotFound(KubeletError):
    """The container is gone (removed behind our back or never existed)."""


class ImageError(KubeletError):
    """An image could not be made available; `reason` is the Kubernetes waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ContainerConfigError(KubeletError):
    """A pod asks for something we cannot build (bad volume, missing key): CreateContainerConfigError."""


class CNIError(KubeletError):
    """A CNI plugin failed; carries the plugin's error code and message."""

    def __init__(self, plugin: str, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"CNI plugin {plugin} failed (code {code}): {msg} {details}".strip())
        self.plugin = plugin
        self.code = code
        self.msg = msg
        self.details = details
