"""The query options of a list or watch, checked as kube-apiserver checks them.

A watch may ask for a watch-list (`sendInitialEvents=true`, KEP-3157): the current
objects as ADDED events, then a BOOKMARK annotated `k8s.io/initial-events-end`, then
the changes. client-go >= 1.35 informers (Helm 4's `--wait` among them) ask for it and
wait for that bookmark before they call themselves synced. Bad combinations are 422
on `ListOptions.meta.k8s.io`, with apimachinery's ValidateListOptions messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from minikube_py.api import errors, field
from minikube_py.api.errors import Cause
from minikube_py.apiserver import codec

NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class ListOptions:
    """What a list or watch asked for (only the options whose combinations are checked)."""

    watch: bool
    resource_version: str
    match: str
    send_initial_events: bool | None
    continue_token: str

    def problems(self) -> list[Cause]:
        """apimachinery's ValidateListOptions (the WatchList feature on)."""
        path, match, causes = "resourceVersionMatch", self.match, []
        if self.watch:
            if self.send_initial_events is not None and match != NOT_OLDER_THAN:
                causes.append(field.forbidden(path, "sendInitialEvents requires setting "
                                                    f"resourceVersionMatch to {NOT_OLDER_THAN}"))
            if match:
                if self.send_initial_events is None:
                    causes.append(field.forbidden(path, "resourceVersionMatch is forbidden for "
                                                        "watch unless sendInitialEvents is "
                                                        "provided"))
                if match != NOT_OLDER_THAN:
                    causes.append(field.not_supported(path, match, [NOT_OLDER_THAN]))
            if match and self.continue_token:
                causes.append(field.forbidden(path, "resourceVersionMatch is forbidden when "
                                                    "continue is provided"))
            return causes
        if match:
            if not self.resource_version:
                causes.append(field.forbidden(path, "resourceVersionMatch is forbidden unless "
                                                    "resourceVersion is provided"))
            if self.continue_token:
                causes.append(field.forbidden(path, "resourceVersionMatch is forbidden when "
                                                    "continue is provided"))
            if match not in (EXACT, NOT_OLDER_THAN):
                causes.append(field.not_supported(path, match, [EXACT, NOT_OLDER_THAN, ""]))
            if match == EXACT and self.resource_version == "0":
                causes.append(field.forbidden(path, 'resourceVersionMatch "exact" is forbidden '
                                                    'for resourceVersion "0"'))
        if self.send_initial_events is not None:
            causes.append(field.forbidden("sendInitialEvents",
                                          "sendInitialEvents is forbidden for list"))
        return causes


def from_request(request: web.Request, *, watch: bool) -> ListOptions:
    """The request's options; 422 Invalid naming each bad one."""
    sent = request.query.get("sendInitialEvents")
    options = ListOptions(
        watch=watch, resource_version=request.query.get("resourceVersion", ""),
        match=request.query.get("resourceVersionMatch", ""),
        send_initial_events=None if sent is None else codec.go_bool(sent, "sendInitialEvents"),
        continue_token=request.query.get("continue", ""))
    causes = options.problems()
    if causes:
        raise errors.invalid_kind("ListOptions", "meta.k8s.io", "", causes)
    return options
