"""API errors phrased exactly as Kubernetes phrases them.

Clients (kubectl, the official Python client, our own) match on `reason` and
`code`, and people read `message`; both must look like kube-apiserver's, so the
constructors below copy its wording (k8s.io/apimachinery/pkg/api/errors).
Field-level problems are `Cause`s, built with the helpers in `field.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minikube_py.api.resources import Resource

MAX_BODY_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class Cause:
    """One bad field: `field` is the JSON path, `message` the error body."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class StatusError(Exception):
    """An error the api-server answers with as a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        """kube-apiserver's field order (kind, apiVersion, metadata, status, message, reason,
        details, code): clients comparing bodies byte for byte see the same bytes."""
        status: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message,
        }
        if self.reason:  # StatusReasonUnknown ("") is omitted, as in Go's omitempty
            status["reason"] = self.reason
        if self.details:
            status["details"] = self.details
        status["code"] = self.code
        return status

    def __repr__(self) -> str:
        return f"StatusError({self.code}, {self.reason!r}, {self.message!r})"


def qualified_resource(resource: Resource | str) -> str:
    """`pods`, `deployments.apps`: how messages name a resource."""
    if isinstance(resource, str):
        return resource
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _details(resource: Resource | str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if isinstance(resource, Resource):
        if resource.group:
            details["group"] = resource.group
        details["kind"] = resource.plural
    else:
        details["kind"] = resource
    return details


def not_found(resource: Resource | str, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{qualified_resource(resource)} "{name}" not found',
                       _details(resource, name))


def already_exists(resource: Resource | str, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists",
                       f'{qualified_resource(resource)} "{name}" already exists',
                       _details(resource, name))


def conflict(resource: Resource | str, name: str,
             why: str = "the object has been modified; please apply your changes to the "
                        "latest version and try again") -> StatusError:
    return StatusError(409, "Conflict",
                       f'Operation cannot be fulfilled on {qualified_resource(resource)} '
                       f'"{name}": {why}', _details(resource, name))


def invalid(resource: Resource, name: str, causes: list[Cause]) -> StatusError:
    """422 Invalid listing every cause, e.g. 'Pod "x" is invalid: spec...: Required value'."""
    return invalid_kind(resource.kind, resource.group, name, causes)


def invalid_kind(kind: str, group: str, name: str, causes: list[Cause]) -> StatusError:
    """422 Invalid for a kind that is no served resource (ListOptions.meta.k8s.io)."""
    qualified = f"{kind}.{group}" if group else kind
    if len(causes) == 1:
        listed = str(causes[0])
    else:
        listed = "[" + ", ".join(str(c) for c in causes) + "]"
    details: dict[str, Any] = {"name": name} if name else {}  # omitempty, as metav1
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [c.to_dict() for c in causes]
    return StatusError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def expired(message: str) -> StatusError:
    """What a watch or list from a compacted resourceVersion gets."""
    return StatusError(410, "Expired", message)


def forbidden(resource: Resource | str, name: str, why: str) -> StatusError:
    target = f'{qualified_resource(resource)} "{name}"' if name else qualified_resource(resource)
    return StatusError(403, "Forbidden", f"{target} is forbidden: {why}",
                       _details(resource, name))


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def method_not_allowed() -> StatusError:
    return StatusError(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource")


def too_large(limit: int = MAX_BODY_BYTES) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge",
                       f"Request entity too large: limit is {limit}")


def unsupported_media_type(accepted: list[str]) -> StatusError:
    """kube-apiserver's negotiation error: the accepted types, no details."""
    return StatusError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media "
                       f"types include: {', '.join(accepted)}")


def not_acceptable(accepted: list[str]) -> StatusError:
    return StatusError(406, "NotAcceptable",
                       "only the following media types are accepted: " + ", ".join(accepted))


def server_timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message)


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError",
                       f"Internal error occurred: {message}")


def too_many_requests(message: str, causes: list[Cause] | None = None) -> StatusError:
    """429: try again later (an eviction that would break a disruption budget)."""
    details = {"causes": [c.to_dict() for c in causes]} if causes else None
    return StatusError(429, "TooManyRequests", message, details)
