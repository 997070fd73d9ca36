"""Properties of the api package over arbitrary JSON: it reports, it never crashes.

Whatever a client sends, defaulting, preparing and validating must end in a
list of causes (never an exception), patches in a result or a StatusError,
and selectors in a selector or a 400. Objects are generated near the real
shape (from the openapi definitions) with random values spliced in.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube_py.api import resources
from minikube_py.api.errors import StatusError
from minikube_py.api.patch import JSON_PATCH, MERGE, STRATEGIC, apply_patch
from minikube_py.api.registry import strategy_for
from minikube_py.api.selectors import FieldSelector, LabelSelector
from tests.fixtures.strategies import anything, objects

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
resource_choice = st.sampled_from(resources.ALL)


def _never_raises(resource: resources.Resource, obj: dict[str, Any]) -> None:
    strategy = strategy_for(resource)
    created = copy.deepcopy(obj)
    strategy.default(created)
    strategy.prepare_create(created)
    causes = strategy.validate_create(created)
    assert all(c.field is not None and c.message for c in causes)
    json.dumps(created)
    updated = copy.deepcopy(obj)
    strategy.default(updated)
    for sub in (None, "status"):
        candidate = copy.deepcopy(updated)
        strategy.prepare_update(candidate, created, sub)
        strategy.validate_update(candidate, created)
    strategy.field_values(created)
    strategy.table([created])


@SETTINGS
@given(data=st.data())
def test_strategies_never_raise(data: st.DataObject) -> None:
    resource = data.draw(resource_choice)
    _never_raises(resource, data.draw(objects(resource)))


def test_a_service_port_with_a_list_for_protocol_does_not_raise() -> None:
    """Found by test_strategies_never_raise in CI: the nodePort carry-over keyed ports by
    (port, protocol) and a list there is unhashable."""
    _never_raises(resources.SERVICES, {"spec": {"type": "", "ports": [
        {"name": "", "protocol": [], "nodePort": 1, "targetPort": ""}]}})



def test_an_endpointslice_port_with_a_list_for_name_does_not_raise() -> None:
    """Found the same way: duplicate port names were looked up before the name's type
    was checked."""
    _never_raises(resources.ENDPOINTSLICES, {"apiVersion": "", "ports": [{"name": [None]}]})


def test_an_endpointslice_with_a_list_for_address_type_does_not_raise() -> None:
    """Found the same way: each address was checked against addressType as a dict key."""
    _never_raises(resources.ENDPOINTSLICES,
                  {"addressType": [], "endpoints": [{"addresses": [""]}]})


def test_an_access_mode_that_is_a_list_does_not_raise() -> None:
    """Found the same way: a PersistentVolume's access modes were looked up in a set before
    their type was checked (a list is unhashable)."""
    _never_raises(resources.PERSISTENTVOLUMES, {"spec": {"accessModes": [[]]}})


@SETTINGS
@given(resource=resource_choice, obj=anything)
def test_strategies_survive_junk(resource: resources.Resource, obj: Any) -> None:
    if isinstance(obj, dict):
        _never_raises(resource, obj)


@SETTINGS
@given(data=st.data())
def test_patches_end_in_result_or_status_error(data: st.DataObject) -> None:
    resource = data.draw(resource_choice)
    original = data.draw(objects(resource))
    content_type = data.draw(st.sampled_from([MERGE, STRATEGIC, JSON_PATCH]))
    if content_type == JSON_PATCH:
        op = st.fixed_dictionaries({"op": st.sampled_from(
            ["add", "remove", "replace", "move", "copy", "test", "bogus"]),
            "path": st.sampled_from(["", "/metadata", "/metadata/name", "/spec/containers/0",
                                     "/spec/containers/-", "/a~1b", "/spec/x/9", "nope"])},
            optional={"value": anything, "from": st.sampled_from(["/metadata", "/spec"])})
        patch: Any = data.draw(st.lists(op, max_size=4) | anything)
    else:
        directives = st.dictionaries(st.sampled_from(
            ["$patch", "$retainKeys", "$setElementOrder/containers",
             "$deleteFromPrimitiveList/finalizers", "containers", "finalizers", "name"]),
            anything, max_size=3)
        patch = data.draw(objects(resource) | directives | anything)
    before = json.dumps(original, sort_keys=True)
    try:
        result = apply_patch(original, json.dumps(patch), content_type, resource)
    except StatusError as e:
        assert e.code in (400, 415, 422)
    else:
        assert isinstance(result, dict)
        if content_type == STRATEGIC:  # directives are never stored
            assert "$patch" not in json.dumps(result) or "$patch" in json.dumps(original)
    assert json.dumps(original, sort_keys=True) == before


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("ab=!,() inotexs\\<>-./")), max_size=25)
       | st.text(max_size=25))
def test_selectors_parse_or_400(text: str) -> None:
    for parse in (LabelSelector.parse, FieldSelector.parse):
        try:
            selector = parse(text)
        except StatusError as e:
            assert e.code == 400
        else:
            selector.matches({"a": "b"})
