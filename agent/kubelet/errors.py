"""The kubelet's own error tree: the Docker SDK and CNI exceptions stop at our boundary.

    KubeletError
      RuntimeUnavailable     dockerd did not answer
      ContainerNotFound      404 (containers and images)
      RuntimeRequestError    any other refusal (.status, .explanation)
        RuntimeConflict      409
      ImageError, ContainerConfigError, CNIError

runtime.py is the only module that imports `docker`; it raises these `from` the SDK's
exceptions. Callers catch the narrow error they can act on; `RuntimeUnavailable` in
particular means "dockerd is restarting or unreachable: wait and reconcile again", never
"the pod failed".
"""

from __future__ import annotations


class KubeletError(Exception):
    """Base of everything the kubelet raises on purpose."""


class RuntimeUnavailable(KubeletError):
    """dockerd did not answer; retry later, change nothing in the API."""


class ContainerNotFound(KubeletError):
    """The container (or image) is gone: removed behind our back or never existed (a 404)."""


class RuntimeRequestError(KubeletError):
    """dockerd refused a request or could not carry it out (any answer but a 404).

    `str()` is the SDK's full message; `explanation` is dockerd's own words, what events
    and statuses show; `status` is the HTTP status (None when no answer carried one).
    """

    def __init__(self, message: str, *, status: int | None = None,
                 explanation: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.explanation = explanation


class RuntimeConflict(RuntimeRequestError):
    """409: the name is taken, the container is not running, or a removal is under way."""


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
