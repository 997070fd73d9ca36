"""ListOptions checks: apimachinery's ValidateListOptions table (validation_test.go)."""

from __future__ import annotations

import pytest

from minikube_py.apiserver.listoptions import ListOptions

MATCH_NEEDS_SIE = ("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for "
                   "watch unless sendInitialEvents is provided")
SIE_NEEDS_MATCH = ("resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                   "resourceVersionMatch to NotOlderThan")


def options(*, watch: bool = False, rv: str = "", match: str = "", sie: bool | None = None,
            token: str = "") -> ListOptions:
    return ListOptions(watch=watch, resource_version=rv, match=match, send_initial_events=sie,
                       continue_token=token)


@pytest.mark.parametrize("opts,expected", [
    pytest.param(options(watch=True), [], id="legacy-watch"),
    pytest.param(options(watch=True, match="NotOlderThan", sie=True), [], id="watch-list"),
    pytest.param(options(watch=True, match="NotOlderThan", sie=False), [], id="watch-from-now"),
    pytest.param(options(watch=True, match="NotOlderThan"), [MATCH_NEEDS_SIE],
                 id="watch-match-alone"),
    pytest.param(options(watch=True, sie=True), [SIE_NEEDS_MATCH], id="watch-list-no-match"),
    pytest.param(options(watch=True, sie=True, match="Exact"), [
        SIE_NEEDS_MATCH,
        'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"'],
        id="watch-list-exact"),
    pytest.param(options(watch=True, sie=True, match="NotOlderThan", token="x"), [
        ("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is "
        "provided")], id="watch-list-continue"),
    pytest.param(options(rv="5", match="Exact"), [], id="list-exact"),
    pytest.param(options(match="Exact"), [
        ("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
        "resourceVersion is provided")], id="list-match-no-version"),
    pytest.param(options(rv="0", match="Exact"), [
        ('resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
        'resourceVersion "0"')], id="list-exact-zero"),
    pytest.param(options(rv="1", match="Newest"), [
        ('resourceVersionMatch: Unsupported value: "Newest": supported values: "", "Exact", '
        '"NotOlderThan"')], id="list-unknown-match"),
    pytest.param(options(sie=False), [
        "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"],
        id="list-initial-events"),
])
def test_problems(opts: ListOptions, expected: list[str]) -> None:
    assert [str(c) for c in opts.problems()] == expected
