"""Inter-pod affinity terms: validated as Kubernetes' ValidatePodAffinityTerm does and
compiled once per pod, so the scheduler matches pods against plain selectors.

A term selects the pods its labelSelector selects (a null selector selects none) in
its namespaces: the listed ones plus those its namespaceSelector selects, or the pod's
own namespace when both are empty; `namespaceSelector: {}` means every namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.meta import dns1123_label, label_key_errors, validate_name
from minikube_py.api.selectors import LabelSelector

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
KINDS = ("podAffinity", "podAntiAffinity")

NamespaceLabels = Callable[[str], Mapping[str, str] | None]  # a namespace's labels


@dataclass(frozen=True, slots=True)
class Term:
    """One compiled PodAffinityTerm; `weight` is 0 for a required term."""

    selector: LabelSelector
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None
    topology_key: str
    weight: int = 0

    def selects(self, labels: Mapping[str, str], namespace: str,
                namespace_labels: NamespaceLabels) -> bool:
        """Does this term select a pod with these labels in this namespace?"""
        in_namespace = namespace in self.namespaces or (
            self.namespace_selector is not None
            and self.namespace_selector.matches(namespace_labels(namespace)))
        return in_namespace and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class PodAffinity:
    """A pod's compiled affinity and anti-affinity, required and preferred."""

    required: tuple[Term, ...] = ()
    required_anti: tuple[Term, ...] = ()
    preferred: tuple[Term, ...] = ()
    preferred_anti: tuple[Term, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.required or self.required_anti or self.preferred
                    or self.preferred_anti)


NONE = PodAffinity()


def compile_affinity(affinity: Mapping[str, Any] | None, namespace: str) -> PodAffinity:
    """Compile spec.affinity's podAffinity/podAntiAffinity (validated input)."""
    affinity = affinity or {}
    if not any(affinity.get(kind) for kind in KINDS):
        return NONE
    parts: list[tuple[Term, ...]] = []
    for kind in KINDS:
        section = affinity.get(kind) or {}
        parts.append(tuple(_term(t, namespace) for t in section.get(REQUIRED) or []))
        parts.append(tuple(_term(w.get("podAffinityTerm") or {}, namespace,
                                 int(w.get("weight") or 0))
                           for w in section.get(PREFERRED) or []))
    return PodAffinity(required=parts[0], preferred=parts[1], required_anti=parts[2],
                       preferred_anti=parts[3])


def _term(term: Mapping[str, Any], namespace: str, weight: int = 0) -> Term:
    names = frozenset(term.get("namespaces") or ())
    ns_selector = term.get("namespaceSelector")
    if not names and ns_selector is None:
        names = frozenset((namespace,))
    return Term(selector=LabelSelector.from_dict(term.get("labelSelector")), namespaces=names,
                namespace_selector=(LabelSelector.from_dict(ns_selector)
                                    if ns_selector is not None else None),
                topology_key=str(term.get("topologyKey") or ""), weight=weight)


def affinity_causes(affinity: Any, path: str) -> list[Cause]:
    """Causes in spec.affinity's pod (anti-)affinity terms, with Kubernetes' paths."""
    if affinity is None:
        return []
    if not isinstance(affinity, Mapping):
        return [field.invalid(path, affinity, "must be an object")]
    causes: list[Cause] = []
    for kind in KINDS:
        here = f"{path}.{kind}"
        section = affinity.get(kind)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            causes.append(field.invalid(here, section, "must be an object"))
            continue
        for at, term in field.objects(section.get(REQUIRED), f"{here}.{REQUIRED}", causes):
            causes += _term_causes(term, at)
        for at, weighted in field.objects(section.get(PREFERRED), f"{here}.{PREFERRED}",
                                          causes):
            weight = weighted.get("weight")
            if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
                causes.append(field.invalid(f"{at}.weight", weight,
                                            "must be in the range 1-100"))
            term = weighted.get("podAffinityTerm")
            if not isinstance(term, Mapping):
                causes.append(field.required(f"{at}.podAffinityTerm"))
            else:
                causes += _term_causes(term, f"{at}.podAffinityTerm")
    return causes


def _term_causes(term: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    key = term.get("topologyKey")
    if not key:
        causes.append(field.required(f"{path}.topologyKey", "can not be empty"))
    elif not isinstance(key, str):
        causes.append(field.invalid(f"{path}.topologyKey", key, "must be a string"))
    else:
        causes += [field.invalid(f"{path}.topologyKey", key, m) for m in label_key_errors(key)]
    for name in ("labelSelector", "namespaceSelector"):
        try:
            LabelSelector.from_dict(term.get(name))
        except ValueError as e:
            causes.append(field.invalid(f"{path}.{name}", term.get(name), str(e)))
    namespaces = term.get("namespaces")
    if namespaces is not None:
        if not isinstance(namespaces, list):
            causes.append(field.invalid(f"{path}.namespaces", namespaces, "must be a list"))
        else:
            for i, ns in enumerate(namespaces):
                causes += validate_name(ns, f"{path}.namespaces[{i}]", dns1123_label)
    return causes
