"""Node affinity: NodeSelectorTerms (ORed) of requirements (ANDed) with the
operators In, NotIn, Exists, DoesNotExist, Gt, Lt, over labels and the
`metadata.name` field. The scheduler places pods with it; the DaemonSet
controller asks the same question to know which nodes want a daemon pod."""

from __future__ import annotations

from minikube_py.api.types import Object


def _requirement_matches(req: Object, values: dict[str, str]) -> bool:
    key = req.get("key", "")
    op = req.get("operator", "")
    wanted = req.get("values") or []
    present = key in values
    if op == "In":
        return present and values[key] in wanted
    if op == "NotIn":
        return not present or values[key] not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(wanted) != 1:
            return False
        try:
            have, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: Object, labels: dict[str, str], node_name: str) -> bool:
    """A term with no requirements matches nothing, as in Kubernetes."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    if not all(_requirement_matches(r, labels) for r in expressions):
        return False
    field_values = {"metadata.name": node_name}
    return all(_requirement_matches(r, field_values) for r in fields)


def required_matches(
    node_selector: dict[str, str],
    required_terms: list[Object] | None,
    labels: dict[str, str],
    node_name: str,
) -> bool:
    """nodeSelector and required node affinity both hold."""
    for key, value in node_selector.items():
        if labels.get(key) != value:
            return False
    if required_terms is None:
        return True
    return any(term_matches(t, labels, node_name) for t in required_terms)


def preferred_weight(preferred: list[Object], labels: dict[str, str], node_name: str) -> int:
    """Sum of the weights of the preferred terms this node matches."""
    return sum(
        int(p.get("weight", 0))
        for p in preferred
        if term_matches(p.get("preference") or {}, labels, node_name)
    )
