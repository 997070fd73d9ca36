"""The client's error tree: callers catch the narrow class (`NotFound`,
`Conflict`, `Gone`) instead of inspecting HTTP codes, the way docker-py and
kopf map responses at their boundary. Every raise chains the cause (`from e`)."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Anything this client raises on purpose."""


class ConfigError(ClientError):
    """A kubeconfig or in-cluster configuration that cannot be used."""


class ConnectionFailed(ClientError):
    """The api-server could not be reached, or the connection broke mid-request."""


class ApiError(ClientError):
    """The api-server answered with a metav1.Status error."""

    def __init__(self, status: dict[str, Any], code: int) -> None:
        self.status = status
        self.code = code
        self.reason: str = status.get("reason") or ""
        self.message: str = status.get("message") or ""
        super().__init__(f"{code} {self.reason}: {self.message}")

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        """The field-level causes of a 422 (each has `field`, `message`, `reason`)."""
        return list(self.details.get("causes") or [])


class BadRequest(ApiError):
    """400: malformed request or patch."""


class Unauthorized(ApiError):
    """401: missing or invalid credentials."""


class Forbidden(ApiError):
    """403: authenticated but not allowed (also: namespace terminating)."""


class NotFound(ApiError):
    """404: the object (or resource) does not exist."""


class MethodNotAllowed(ApiError):
    """405: the verb is not served for this path."""


class Conflict(ApiError):
    """409 Conflict: a write with a stale resourceVersion; re-read and retry."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: create of a name that is taken."""


class Gone(ApiError):
    """410: the resourceVersion was compacted away; re-list."""


class Invalid(ApiError):
    """422: validation failed; `causes` names every bad field."""


class TooManyRequests(ApiError):
    """429: the server asks us to slow down."""


class ServerError(ApiError):
    """5xx: the server failed; usually worth retrying later."""


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def from_status(status: dict[str, Any], code: int | None = None) -> ApiError:
    """The narrowest ApiError for a metav1.Status (code from the Status if not given)."""
    code = int(code or status.get("code") or 500)
    if code == 409:
        cls: type[ApiError] = AlreadyExists if status.get("reason") == "AlreadyExists" else Conflict
    elif code >= 500:
        cls = ServerError
    else:
        cls = _BY_CODE.get(code, ApiError)
    return cls(status, code)


def synthetic_status(code: int, message: str) -> dict[str, Any]:
    """A Status for a response whose body was not one (e.g. a proxy's HTML page)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": "",
        "message": message,
    }
