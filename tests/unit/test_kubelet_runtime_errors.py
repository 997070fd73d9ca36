"""The Docker SDK's exceptions stop at the runtime: each becomes ours, raised `from` it."""

from __future__ import annotations

from collections.abc import Callable

import docker.errors
import pytest
import requests

from agent.kubelet.errors import (
    ContainerNotFound,
    KubeletError,
    RuntimeConflict,
    RuntimeRequestError,
    RuntimeUnavailable,
)
from agent.kubelet.runtime import _translate


def api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return cls(f"{status} Client Error: boom", response=response, explanation=explanation)


def raising(error: Exception) -> Callable[[], None]:
    def call() -> None:
        raise error
    return _translate(call)


@pytest.mark.parametrize(("error", "ours"), [
    (api_error(404, "No such container: x"), ContainerNotFound),
    (docker.errors.ImageNotFound("no such image", response=None), ContainerNotFound),
    (api_error(409, "You cannot remove a running container"), RuntimeConflict),
    (api_error(500, "OCI runtime create failed"), RuntimeRequestError),
    (requests.exceptions.ConnectionError("refused"), RuntimeUnavailable),
    (requests.exceptions.ReadTimeout("slow"), RuntimeUnavailable),
    (ConnectionRefusedError(111, "refused"), RuntimeUnavailable),
    (docker.errors.InvalidArgument("bad mem_limit"), RuntimeRequestError),
])
def test_sdk_errors_become_ours_chained(error: Exception, ours: type[KubeletError]) -> None:
    with pytest.raises(ours) as info:
        raising(error)()
    assert type(info.value) is ours and info.value.__cause__ is error


def test_a_refusal_keeps_the_status_the_explanation_and_the_full_message() -> None:
    error = api_error(409, 'Conflict. The container name "/x" is already in use')
    with pytest.raises(RuntimeConflict) as info:
        raising(error)()
    assert info.value.status == 409
    assert info.value.explanation == 'Conflict. The container name "/x" is already in use'
    assert str(info.value) == str(error)


def test_a_conflict_is_a_request_error_and_none_is_not_found() -> None:
    assert issubclass(RuntimeConflict, RuntimeRequestError)
    assert not issubclass(ContainerNotFound, RuntimeRequestError)


def test_results_pass_through() -> None:
    assert _translate(lambda a, b=0: a + b)(1, b=2) == 3
